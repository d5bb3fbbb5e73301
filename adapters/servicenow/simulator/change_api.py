"""The simulated Change Management API (``/api/sn_chg_rest``), the part the connector uses: a
standard change created from its template (POST …/change/standard/{template}, 200, every field
as {"value", "display_value"}, unknown fields listed in ``__meta.ignoredFields``) and a
template read (GET …/change/standard/template/{sys_id})."""

from __future__ import annotations

from typing import Any

from connector.testing.simulator import SimRequest, SimResponse

from .rules import Refused
from .state import ServiceNowState
from .views import display_value

WRITERS = {"itil", "change_manager", "admin"}  # roles that may create changes (docs)


def _shown(sim: ServiceNowState, table: str, row: dict[str, str]) -> dict[str, Any]:
    cols = sim.columns(table)
    out: dict[str, Any] = {}
    for name, column in cols.items():
        raw = "" if column.type == "journal" else row.get(name, "")
        out[name] = {"display_value": display_value(sim, table, name, column, raw), "value": raw}
    return out


def _error(status: int, message: str, detail: str = "") -> SimResponse:
    return SimResponse(status, {"error": {"message": message, "detail": detail}, "status": "failure"})


def _template(sim: ServiceNowState, sys_id: str) -> dict[str, str] | None:
    row = sim.rows["std_change_record_producer"].get(sys_id)
    return row if row is not None and row.get("active") == "true" else None


def get_template(sim: ServiceNowState, request: SimRequest, match: Any) -> SimResponse:
    row = _template(sim, match.group("template"))
    if row is None:
        return _error(404, "No Record found", "Record doesn't exist or ACL restricts the record retrieval")
    return SimResponse(200, {"result": _shown(sim, "std_change_record_producer", row)})


def create_standard(sim: ServiceNowState, request: SimRequest, match: Any) -> SimResponse:
    user = sim.user_row(sim.caller) or {}
    if not set(filter(None, user.get("roles", "").split(","))) & WRITERS:
        return _error(403, "User Not Authorized", "Change Management API needs itil or change_manager")
    template = _template(sim, match.group("template"))
    if template is None:
        return _error(404, "Standard change template not found", match.group("template"))
    try:
        body = request.json() if request.body else {}
    except ValueError:
        return _error(400, "Exception while reading request", "Request body is not valid JSON")
    if not isinstance(body, dict):
        return _error(400, "Exception while reading request", "Expected a JSON object")
    values: dict[str, Any] = {}
    for part in template.get("template_value", "").split("^"):  # an encoded query of field=value
        name, _, text = part.partition("=")
        if name:
            values[name] = text
    cols = sim.columns("change_request")
    ignored = [k for k in body if k not in cols or k.startswith("sys_")]
    values.update({k: v for k, v in body.items() if k not in ignored})
    values.update(type="standard", std_change_producer_version=template["sys_id"])
    try:
        row = sim.insert("change_request", values, sim.caller)
    except Refused as exc:
        return _error(403, "Operation Failed", str(exc))
    result = _shown(sim, "change_request", sim.rows["change_request"][row["sys_id"]])
    result["__meta"] = {"ignoredFields": ignored}
    return SimResponse(200, {"result": result})


ROUTES = [
    ("POST", r"/api/sn_chg_rest/change/standard/(?P<template>[0-9a-f]{32})", create_standard),
    ("GET", r"/api/sn_chg_rest/change/standard/template/(?P<template>[0-9a-f]{32})", get_template),
]
