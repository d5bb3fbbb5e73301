"""The re-read of one record after a webhook hint, in one call: the record (by its stored sys_id)
and the rows that say who decided — its sys_audit rows for the decision columns, or its
sysapproval_approver rows — read together through the Batch API. Both reads depend only on the
sys_id, so nothing is lost by sending them at once, and each is still checked on its own (the
record's identity and correlation value by the adapter, the rows' documentkey / sysapproval by
the decision code). Where the instance refuses the Batch API, or the rows fill a page, the
reads go one at a time as before."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connector.core.errors import AdapterError

from .decide import APPROVER_FIELDS, AUDIT_FIELDS, Prefetched, approvers_query, audit_query, safe
from .settings import ServiceNowRouteSettings

if TYPE_CHECKING:
    from .adapter import ServiceNowAdapter


def _rows_read(route: ServiceNowRouteSettings, sys_id: str) -> tuple[str, str, list[str]]:
    """(table, query, fields) of the decision rows of record ``sys_id``."""
    d = route.decision
    if d.source == "approvers":
        return "sysapproval_approver", approvers_query([sys_id]), APPROVER_FIELDS
    fields = sorted({d.state_field, *([d.approval_field] if d.uses_approval and d.approval_field else [])})
    return "sys_audit", audit_query(route.ticket.table, [sys_id], fields), AUDIT_FIELDS


def record_and_rows(
    adapter: ServiceNowAdapter, route: ServiceNowRouteSettings, sys_id: str
) -> tuple[dict[str, Any], Prefetched | None]:
    """The record and, when they came with it, its decision rows (None: ``decide`` reads them)."""
    client, table = adapter.client, route.ticket.table
    fields = adapter.record_fields(route)
    if not sys_id or not safe(sys_id):
        return client.read(table, sys_id, fields), None
    rows_table, query, row_fields = _rows_read(route, sys_id)
    limit = adapter.settings.page_size
    answers = client.batch_get(
        {
            "record": (client.record_path(table, sys_id), client.read_params(fields)),
            "rows": (client.table_path(rows_table), client.read_params(row_fields, query, limit)),
        }
    )
    if answers is None:  # the instance refuses the Batch API
        return client.read(table, sys_id, fields), None
    record, rows = answers["record"], answers["rows"]
    if isinstance(record, AdapterError):
        raise record
    found = client.record_of(record)
    if isinstance(rows, AdapterError):
        return found, Prefetched(None, rows)
    result = rows.body["result"]
    listed = [r for r in result if isinstance(r, dict)] if isinstance(result, list) else []
    if len(listed) >= limit:  # more than one page may exist: read them all the usual way
        return found, None
    return found, Prefetched(listed)
