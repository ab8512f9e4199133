"""CloudWatch's three wire protocols, translated by the API model's shapes.

Clients in the field speak one of three, all served on the same port:

* **JSON 1.0** (what boto3 1.44 and the pinned AWS CLI send): ``POST /`` with
  ``X-Amz-Target: GraniteServiceVersion20100801.<Op>``; the service is
  *query-compatible*, so errors also carry the old query code in ``x-amzn-query-error``
  (``InvalidParameterValue;Sender``), which botocore reports as the error's code;
* **query** (older SDKs): a form-encoded ``POST /`` with ``Action=<Op>``, members
  flattened as ``Dimensions.member.1.Name``, timestamps in ISO 8601, answered in XML;
* **RPC v2 CBOR** (newer SDKs): ``POST /service/GraniteServiceVersion20100801/operation/<Op>``
  with ``smithy-protocol: rpc-v2-cbor``, CBOR bodies, timestamps as CBOR tag 1.

Requests become plain dicts with CloudWatch's member names and timestamps as epoch
seconds; replies (the same kind of dict) are rendered as the request's protocol wants.
The shapes come from botocore's copy of the API model, loaded once per process.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import json
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from serverless_ray.errors import InvalidParameterValueException, ServiceError, UnknownOperationException
from serverless_ray.spec.services import CLOUDWATCH

JSON_1_0 = "application/x-amz-json-1.0"
CBOR = "application/cbor"
XML = "text/xml"
FORM = "application/x-www-form-urlencoded"
CBOR_PATH_PREFIX = f"/service/{CLOUDWATCH}/operation/"
SERVED = ("GetMetricStatistics", "GetMetricData", "ListMetrics")


@functools.cache
def service_model():
    """CloudWatch's API model, as botocore ships it."""
    from botocore.loaders import Loader
    from botocore.model import ServiceModel

    return ServiceModel(Loader().load_service_model("cloudwatch", "service-2"), "cloudwatch")


def operation_model(name: str):
    if name not in SERVED:
        raise UnknownOperationException(
            f"Operation {name} is not supported by this platform; CloudWatch serves {', '.join(SERVED)}.")
    return service_model().operation_model(name)


# --- requests --------------------------------------------------------------------------


def decode_json(operation: str, body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body) if body.strip() else {}
    except json.JSONDecodeError as exc:
        raise InvalidParameterValueException(f"The request body is not valid JSON: {exc.msg}.") from None
    return _from_wire(payload, operation_model(operation).input_shape)


def decode_cbor(operation: str, body: bytes) -> dict[str, Any]:
    import cbor2

    try:
        payload = cbor2.loads(body) if body else {}
    except Exception as exc:
        raise InvalidParameterValueException(f"The request body is not valid CBOR: {exc}.") from None
    return _from_wire(payload, operation_model(operation).input_shape)


def decode_query(body: bytes) -> tuple[str, dict[str, Any]]:
    """(operation, payload) of a form-encoded query request."""
    fields = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    operation = fields.pop("Action", "")
    fields.pop("Version", None)
    shape = operation_model(operation).input_shape
    return operation, _from_form(fields, "", shape)


def _from_wire(value: Any, shape) -> Any:
    """A JSON or CBOR value, by its shape: timestamps (numbers, ISO strings or datetimes)
    become epoch seconds."""
    if value is None or shape is None:
        return value
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        return {name: _from_wire(item, shape.members.get(name)) for name, item in value.items()}
    if kind == "list" and isinstance(value, list):
        return [_from_wire(item, shape.member) for item in value]
    if kind == "map" and isinstance(value, dict):
        return {key: _from_wire(item, shape.value) for key, item in value.items()}
    if kind == "timestamp":
        return _epoch(value)
    return value


def _from_form(fields: dict[str, str], prefix: str, shape) -> Any:
    """The members under ``prefix`` of a flattened query request, by their shape."""
    kind = shape.type_name
    if kind == "structure":
        out = {}
        for name, member in shape.members.items():
            key = f"{prefix}.{member.serialization.get('name', name)}" if prefix else member.serialization.get("name", name)
            if _present(fields, key):
                out[name] = _from_form(fields, key, member)
        return out
    if kind == "list":
        step = "" if shape.serialization.get("flattened") else ".member"
        items, n = [], 1
        while _present(fields, f"{prefix}{step}.{n}"):
            items.append(_from_form(fields, f"{prefix}{step}.{n}", shape.member))
            n += 1
        return items
    if kind == "map":
        out, n = {}, 1
        while f"{prefix}.entry.{n}.key" in fields:
            out[fields[f"{prefix}.entry.{n}.key"]] = _from_form(fields, f"{prefix}.entry.{n}.value", shape.value)
            n += 1
        return out
    return _scalar(fields.get(prefix, ""), shape, prefix)


def _present(fields: dict[str, str], key: str) -> bool:
    return key in fields or any(k.startswith(key + ".") for k in fields)


def _scalar(text: str, shape, name: str) -> Any:
    kind = shape.type_name
    try:
        if kind in ("integer", "long"):
            return int(text)
        if kind in ("double", "float"):
            return float(text)
        if kind == "boolean":
            return text.lower() == "true"
        if kind == "timestamp":
            return _epoch(text)
    except ValueError:
        raise InvalidParameterValueException(f"The value {text!r} of parameter {name} is not a valid {kind}.") from None
    return text


def _epoch(value: Any) -> float:
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)).timestamp()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidParameterValueException(f"The value {value!r} is not a valid timestamp.") from None
        return _epoch(parsed)
    raise InvalidParameterValueException(f"The value {value!r} is not a valid timestamp.")


# --- replies ---------------------------------------------------------------------------


def encode_json(operation: str, reply: dict[str, Any]) -> bytes:
    return json.dumps(reply, separators=(",", ":")).encode()


def encode_cbor(operation: str, reply: dict[str, Any]) -> bytes:
    import cbor2

    value = _to_datetimes(reply, operation_model(operation).output_shape)
    return cbor2.dumps(value, datetime_as_timestamp=True, timezone=dt.timezone.utc)


def _to_datetimes(value: Any, shape) -> Any:
    if value is None or shape is None:
        return value
    kind = shape.type_name
    if kind == "structure":
        return {name: _to_datetimes(item, shape.members.get(name)) for name, item in value.items()}
    if kind == "list":
        return [_to_datetimes(item, shape.member) for item in value]
    if kind == "map":
        return {key: _to_datetimes(item, shape.value) for key, item in value.items()}
    if kind == "timestamp":
        return dt.datetime.fromtimestamp(value, dt.timezone.utc)
    return value


def encode_xml(operation: str, reply: dict[str, Any], request_id: str) -> bytes:
    model = operation_model(operation)
    namespace = service_model().metadata["xmlNamespace"]
    wrapper = model.output_shape.serialization.get("resultWrapper", f"{operation}Result") if model.output_shape else None
    inner = _xml_members(reply, model.output_shape) if model.output_shape else ""
    result = f"<{wrapper}>{inner}</{wrapper}>" if wrapper else ""
    return (f'<{operation}Response xmlns="{namespace}">{result}'
            f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{operation}Response>").encode()


def _xml_members(value: dict[str, Any], shape) -> str:
    parts = []
    for name, member in shape.members.items():
        if name in value and value[name] is not None:
            tag = member.serialization.get("name", name)
            parts.append(_xml(tag, value[name], member))
    return "".join(parts)


def _xml(tag: str, value: Any, shape) -> str:
    kind = shape.type_name
    if kind == "structure":
        return f"<{tag}>{_xml_members(value, shape)}</{tag}>"
    if kind == "list":
        inner_tag = shape.member.serialization.get("name", "member")
        items = "".join(_xml(inner_tag, item, shape.member) for item in value)
        return items if shape.serialization.get("flattened") else f"<{tag}>{items}</{tag}>"
    if kind == "map":
        entries = "".join(f"<entry><key>{escape(str(k))}</key>{_xml('value', v, shape.value)}</entry>"
                          for k, v in value.items())
        return f"<{tag}>{entries}</{tag}>"
    if kind == "timestamp":
        text = dt.datetime.fromtimestamp(value, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    elif kind == "boolean":
        text = "true" if value else "false"
    elif kind == "blob":
        text = base64.b64encode(value).decode()
    else:
        text = escape(repr(value) if isinstance(value, float) else str(value))
    return f"<{tag}>{text}</{tag}>"


# --- errors ----------------------------------------------------------------------------


def query_error_header(error: ServiceError) -> dict[str, str]:
    """``x-amzn-query-error``: the query protocol's code and fault, for query-compatible clients."""
    code = error.query_code or error.code
    return {"x-amzn-query-error": f"{code};{'Sender' if error.sender_fault else 'Receiver'}"}


def error_type(error: ServiceError) -> str:
    return f"com.amazonaws.cloudwatch#{error.code}"


def json_error(error: ServiceError) -> bytes:
    return json.dumps({"__type": error_type(error), "message": error.message}, separators=(",", ":")).encode()


def cbor_error(error: ServiceError) -> bytes:
    import cbor2

    return cbor2.dumps({"__type": error_type(error), "message": error.message})


def xml_error(error: ServiceError, request_id: str) -> bytes:
    fault = "Sender" if error.sender_fault else "Receiver"
    return (f"<ErrorResponse><Error><Type>{fault}</Type><Code>{escape(error.query_code or error.code)}</Code>"
            f"<Message>{escape(error.message or '')}</Message></Error><RequestId>{request_id}</RequestId>"
            "</ErrorResponse>").encode()
