"""How the simulated Table API shows rows: ``sysparm_fields``, display values, reference links,
empty journal columns, and the Link header for paging."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from connector.testing.simulator import SimRequest

from .schema import Column

if TYPE_CHECKING:
    from .tables import ServiceNowTables


def link_header(sim: ServiceNowTables, request: SimRequest, offset: int, limit: int, total: int) -> str:
    if request.arg("sysparm_suppress_pagination_header") == "true":
        return ""
    base = {k: v[0] for k, v in request.query.items()}
    url = f"{sim.base_url}{request.path}"

    def link(at: int, rel: str) -> str:
        params = {**base, "sysparm_limit": str(limit), "sysparm_offset": str(at)}
        return f'<{url}?{urlencode(params)}>;rel="{rel}"'

    parts = [link(0, "first")]
    if offset > 0:
        parts.append(link(max(0, offset - limit), "prev"))
    if offset + limit < total:
        parts.append(link(offset + limit, "next"))
    parts.append(link(max(0, ((total - 1) // limit) * limit) if total else 0, "last"))
    return ",".join(parts)


def render(sim: ServiceNowTables, table: str, row: dict[str, str], request: SimRequest) -> dict[str, Any]:
    fields_arg = request.arg("sysparm_fields", "") or ""
    wanted = [f.strip() for f in fields_arg.split(",") if f.strip()] if fields_arg else None
    cols = sim.columns(table)
    names = [f for f in wanted if sim.known(table, f)] if wanted is not None else list(cols)
    display = (request.arg("sysparm_display_value", "false") or "false").lower()
    links = (request.arg("sysparm_exclude_reference_link", "false") or "false").lower() != "true"
    out: dict[str, Any] = {}
    for name in names:
        column = cols.get(name, Column())
        raw = "" if column.type == "journal" else sim.value_at(table, row, name)
        shown: Any = raw
        if display in ("true", "all"):
            label = display_value(sim, table, name, column, raw)
            shown = label if display == "true" else {"display_value": label, "value": raw}
        elif column.type == "reference" and raw and links:
            target = sim.lookup(column.reference, raw)
            where = target[0] if target else column.reference
            shown = {"link": f"{sim.base_url}/api/now/table/{where}/{raw}", "value": raw}
        out[name] = shown
    return out


def display_value(sim: ServiceNowTables, table: str, name: str, column: Column, raw: str) -> str:
    if column.type == "choice":
        for owner in sim.chain(table):
            for c in sim.rows["sys_choice"].values():
                if c["name"] == owner and c["element"] == name and c["value"] == raw:
                    return c["label"]
    if column.type == "reference":
        found = sim.lookup(column.reference, raw)
        if found:
            return found[1].get("number") or found[1].get("name") or found[1].get("user_name") or raw
    return raw
