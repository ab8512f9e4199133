"""Stored records back into objects, without the wire's rules.

Records were validated once, when the request that made them was accepted. Loading them
runs none of those rules again (no patterns, ranges, enums or model validators): a rule
tightened in a later version must never stop the controller from starting on an
existing state directory. Instead each record carries the ``schema_version`` of its
layout; an older layout is first brought up to date by its table's migrations, then the
record is built field by field with pydantic's ``model_construct``.
"""

from __future__ import annotations

import json
import types
import typing
from datetime import datetime
from enum import Enum
from typing import Any, Callable, Mapping, TypeVar, Union

from pydantic import BaseModel

SCHEMA_VERSION = 2
"""The layout this code writes. 1: records before versioning (no ``schema_version``)."""

M = TypeVar("M", bound=BaseModel)
Migration = Callable[[dict[str, Any]], dict[str, Any]]
"""Turns a record of version N into version N + 1 (a table's migrations are keyed by N)."""


class FutureRecordError(ValueError):
    """A record written by a newer version of the platform than this one."""


def load_record(record: type[M], doc: str, migrations: Mapping[int, Migration] | None = None) -> M:
    """The record stored as ``doc`` (JSON), migrated to :data:`SCHEMA_VERSION`."""
    data = json.loads(doc)
    version = int(data.get("schema_version", 1))
    if version > SCHEMA_VERSION:
        raise FutureRecordError(
            f"a {record.__name__} of schema version {version} was written by a newer serverless-ray; "
            f"this one reads versions up to {SCHEMA_VERSION}"
        )
    for step in range(version, SCHEMA_VERSION):
        migrate = (migrations or {}).get(step)
        if migrate is not None:
            data = migrate(data)
    data["schema_version"] = SCHEMA_VERSION
    return construct(record, data)


def construct(model: type[M], data: Mapping[str, Any]) -> M:
    """``model`` built from plain data without validation; nested models are built too."""
    values = {}
    for name, field in model.model_fields.items():
        key = field.alias if field.alias is not None and field.alias in data else name
        if key in data:
            values[name] = _value(field.annotation, data[key])
    return model.model_construct(**values)


def _value(annotation: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _value(args[0], value)
    if origin in (Union, types.UnionType):
        for option in args:
            if option is not type(None) and _fits(option, value):
                return _value(option, value)
        return value
    if origin in (list, tuple, set, frozenset) and isinstance(value, list):
        item = args[0] if args else Any
        items = [_value(item, v) for v in value]
        return items if origin is list else origin(items)
    if origin in (dict, Mapping) and isinstance(value, dict):
        item = args[1] if len(args) == 2 else Any
        return {k: _value(item, v) for k, v in value.items()}
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel) and isinstance(value, dict):
            return construct(annotation, value)
        if issubclass(annotation, Enum):
            try:
                return annotation(value)
            except ValueError:  # a value this version does not know is kept, not refused
                return value
        if annotation is datetime and isinstance(value, str):
            return datetime.fromisoformat(value)
    return value


def _fits(annotation: Any, value: Any) -> bool:
    """Whether ``value`` (plain JSON data) can be an instance of ``annotation``."""
    origin = typing.get_origin(annotation) or annotation
    if origin is typing.Annotated:
        return _fits(typing.get_args(annotation)[0], value)
    if isinstance(value, dict):
        return origin in (dict, Mapping) or (isinstance(origin, type) and issubclass(origin, BaseModel))
    if isinstance(value, list):
        return origin in (list, tuple, set, frozenset)
    return not (origin in (dict, Mapping, list, tuple, set, frozenset)
                or (isinstance(origin, type) and issubclass(origin, BaseModel)))
