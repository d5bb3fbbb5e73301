"""Entity properties of issues and comments: JSON values stored by key, hidden from the UI but
neither secret nor protected from anyone who may edit. The documented limits are kept: a key of
at most 255 characters, a value that is non-empty valid JSON of at most 32768 characters (a PUT
body as sent; a value inside a create or comment body in its compact JSON form)."""

from __future__ import annotations

import json
from typing import Any

from .entities import Refusal

MAX_KEY = 255
MAX_VALUE = 32768


def check_key(key: str) -> None:
    if not key:
        raise Refusal(400, "The property key cannot be empty.")
    if len(key) > MAX_KEY:
        raise Refusal(400, f"The property key cannot be longer than {MAX_KEY} characters.")


def _check_size(text: str) -> None:
    if len(text) > MAX_VALUE:
        raise Refusal(400, f"The property value cannot be longer than {MAX_VALUE} characters.")


def check_value(value: Any) -> None:
    """A value given as JSON data (inside a request body, or by a human-side helper)."""
    _check_size(json.dumps(value, separators=(",", ":")))


def value_from_body(raw: bytes) -> Any:
    """The value of a PUT …/properties/{key}: the whole body is the JSON value."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Refusal(400, "The property value must be valid JSON.") from None
    if not text.strip():
        raise Refusal(400, "The property value cannot be empty.")
    _check_size(text)
    try:
        return json.loads(text)
    except ValueError:
        raise Refusal(400, "The property value must be valid JSON.") from None


def from_list(items: Any) -> dict[str, Any]:
    """The ``properties: [{key, value}]`` of a create or comment body, checked as a whole: one
    bad entry refuses the request and nothing is stored."""
    if items is None:
        return {}
    if not isinstance(items, list):
        raise Refusal(400, "properties must be a list of {key, value} objects.")
    out: dict[str, Any] = {}
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str) or "value" not in item:
            raise Refusal(400, "Each property needs a key and a value.")
        check_key(item["key"])
        check_value(item["value"])
        out[item["key"]] = item["value"]
    return out


def select(properties: dict[str, Any], wanted: list[str]) -> dict[str, Any]:
    """What a ``properties=`` parameter asks for: ``*all``, named keys, ``-key`` to leave out."""
    everything = "*all" in wanted
    named = {ref for ref in wanted if ref and not ref.startswith("-")}
    left_out = {ref[1:] for ref in wanted if ref.startswith("-")}
    return {k: v for k, v in properties.items() if (everything or k in named) and k not in left_out}


def entry_json(key: str, value: Any) -> dict[str, Any]:
    return {"key": key, "value": value}


def keys_json(owner_url: str, properties: dict[str, Any]) -> dict[str, Any]:
    """``{"keys": [{"self", "key"}]}`` for the properties of the entity at ``owner_url``."""
    return {"keys": [{"self": f"{owner_url}/properties/{key}", "key": key} for key in properties]}
