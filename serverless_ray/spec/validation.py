"""Turn pydantic validation errors into SageMaker's ``ValidationException`` wording.

AWS reports constraint violations as
``1 validation error detected: Value '500' at 'productionVariants.1.member.serverlessConfig.maxConcurrency'
failed to satisfy constraint: Member must have value less than or equal to 200``.
The path is the member path in lowerCamelCase with 1-based ``N.member`` list steps.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, TypeVar

from pydantic import BaseModel, ValidationError

from serverless_ray.errors import ServiceError, ValidationException

M = TypeVar("M", bound=BaseModel)

# pydantic error type -> AWS constraint sentence (formatted with the error's ctx)
_CONSTRAINTS = {
    "missing": "Member must not be null",
    "string_too_long": "Member must have length less than or equal to {max_length}",
    "string_too_short": "Member must have length greater than or equal to {min_length}",
    "too_long": "Member must have length less than or equal to {max_length}",
    "too_short": "Member must have length greater than or equal to {min_length}",
    "string_pattern_mismatch": "Member must satisfy regular expression pattern: {pattern}",
    "less_than_equal": "Member must have value less than or equal to {le}",
    "greater_than_equal": "Member must have value greater than or equal to {ge}",
    "less_than": "Member must have value less than {lt}",
    "greater_than": "Member must have value greater than {gt}",
    "literal_error": "Member must satisfy enum value set: [{expected}]",
    "enum": "Member must satisfy enum value set: [{expected}]",
    "int_type": "Member must be an integer",
    "int_parsing": "Member must be an integer",
    "int_from_float": "Member must be an integer",
    "float_type": "Member must be a number",
    "float_parsing": "Member must be a number",
    "finite_number": "Member must be a finite number",
    "bool_type": "Member must be a boolean",
    "bool_parsing": "Member must be a boolean",
    "string_type": "Member must be a string",
    "list_type": "Member must be a list",
    "dict_type": "Member must be a structure",
    "model_type": "Member must be a structure",
    "model_attributes_type": "Member must be a structure",
    "datetime_type": "Member must be a timestamp",
    "datetime_parsing": "Member must be a timestamp",
    "datetime_from_date_parsing": "Member must be a timestamp",
}


def parse(model: type[M], payload: Any, *, error: type[ServiceError] = ValidationException) -> M:
    """Validate ``payload`` as ``model`` or raise ``error`` (the service's validation
    error, SageMaker's ``ValidationException`` by default) in AWS wording."""
    if not isinstance(payload, dict):
        raise error("The request body must be a JSON object.")
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise error(format_errors(exc.errors(include_url=False))) from None


def format_errors(errors: Iterable[dict[str, Any]]) -> str:
    sentences = [_sentence(err) for err in errors]
    count = len(sentences)
    noun = "error" if count == 1 else "errors"
    return f"{count} validation {noun} detected: " + "; ".join(sentences)


def _sentence(err: dict[str, Any]) -> str:
    path = member_path(err.get("loc", ()))
    kind = err.get("type", "")
    template = _CONSTRAINTS.get(kind)
    if template is None:
        # Custom validators already wrote a full sentence that quotes the value.
        message = str(err.get("msg", "")).removeprefix("Value error, ")
        return f"{message}" if not path else f"{message} (at '{path}')"
    ctx = {k: _plain(v) for k, v in (err.get("ctx") or {}).items()}
    constraint = template.format(**ctx) if ctx or "{" not in template else template
    return f"Value {_render(err.get('input'), kind)} at '{path}' failed to satisfy constraint: {constraint}"


def member_path(loc: Iterable[Any]) -> str:
    """``('ProductionVariants', 0, 'ServerlessConfig')`` → ``productionVariants.1.member.serverlessConfig``.

    Only member names are wire names; a step after a map member is the user's own key,
    so the path stops at the map (as AWS names ``primaryContainer.environment``).
    """
    parts: list[str] = []
    for step in loc:
        if isinstance(step, int):
            parts.append(f"{step + 1}.member")
            continue
        name = str(step)
        if parts and parts[-1] in _MAP_MEMBERS:
            break
        parts.append(name[:1].lower() + name[1:])
    return ".".join(parts)


# Members whose keys are user data, not part of the shape.
_MAP_MEMBERS = {"environment"}


def _render(value: Any, kind: str) -> str:
    if kind == "missing" or value is None:
        return "null"
    if isinstance(value, (dict, list)):
        return "'" + json.dumps(value, separators=(",", ":"), default=str)[:200] + "'"
    return f"'{value}'"


def _plain(value: Any) -> Any:
    if isinstance(value, str):
        # literal_error ctx quotes members ("'Name' or 'CreationTime'"); AWS lists them bare.
        return value.replace("'", "").replace(" or ", ", ")
    return value
