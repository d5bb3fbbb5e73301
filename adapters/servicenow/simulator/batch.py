"""The simulated Batch API (``POST /api/now/v1/batch``): several REST calls in one request, each
item run in order as the caller through the same routes (its own ACLs and business rules, its
own status), bodies Base64 both ways, as documented (``api-reference/rest-apis/batch-api.md``).
Only the versioned URL exists (the unversioned one is not a resource on real instances). Items
are logged in ``batch_items``; the batch itself is one entry in ``calls``, as on the wire."""

from __future__ import annotations

import base64
import binascii
import re
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from connector.testing.simulator import SimRequest, SimResponse

from .routes import error, json_body

if TYPE_CHECKING:
    from .api import ServiceNowSimulator

BATCH = r"/api/now/v1/batch"


def _item_request(outer: SimRequest, item: dict[str, Any]) -> SimRequest | str:
    """The item as a request of its own (the outer request's credentials), or what is wrong."""
    for key in ("id", "method", "url"):
        if not isinstance(item.get(key), str) or not item[key]:
            return f"rest_requests item lacks {key}"
    parts = urlsplit(item["url"])
    if parts.scheme or parts.netloc or not parts.path.startswith("/api/"):
        return "url must be a relative /api/ path"
    if re.fullmatch(BATCH, parts.path):
        return "a batch cannot contain a batch"
    headers = dict(outer.headers)
    for h in item.get("headers") or []:
        if isinstance(h, dict) and isinstance(h.get("name"), str):
            headers[h["name"]] = str(h.get("value", ""))
    try:
        body = base64.b64decode(item.get("body") or "", validate=True)
    except (binascii.Error, ValueError):
        return "body must be Base64"
    query = parse_qs(parts.query, keep_blank_values=True)
    return SimRequest(item["method"].upper(), parts.path, query, headers, body)


def batch(sim: ServiceNowSimulator, request: SimRequest, match: Any) -> SimResponse:
    body = json_body(request)
    if isinstance(body, SimResponse):
        return body
    items = body.get("rest_requests")
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        return error(400, "Exception while reading request", "rest_requests must be a list of objects")
    serviced = []
    for item in items:
        inner = _item_request(request, item)
        if isinstance(inner, str):
            return error(400, "Exception while reading request", inner)
        answer = sim.handle_item(inner)
        try:
            text = HTTPStatus(answer.status).phrase
        except ValueError:
            text = ""
        entry: dict[str, Any] = {
            "id": item["id"],
            "body": base64.b64encode(answer.encoded()).decode("ascii"),
            "status_code": answer.status,
            "status_text": text,
            "execution_time": 0,
            "headers": [],
        }
        if not item.get("exclude_response_headers"):
            shown = {"Content-Type": "application/json", **answer.headers}
            entry["headers"] = [{"name": k, "value": v} for k, v in shown.items()]
        serviced.append(entry)
    return SimResponse(
        200,
        {
            "batch_request_id": str(body.get("batch_request_id") or ""),
            "serviced_requests": serviced,
            "unserviced_requests": [],
        },
    )


ROUTES = [("POST", BATCH, batch)]
