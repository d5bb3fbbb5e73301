"""The business rule a ServiceNow admin pastes so the instance notifies the connector. ServiceNow
cannot be told about a webhook through the Table API, so ``webhook_setup`` prints this instead."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .adapter import ServiceNowAdapter

_RECORD = """\
(function executeRule(current, previous /*null when async*/) {
    // approval-connector: tell the connector that {table} record may have been decided.
    // The body is only a hint; the connector re-reads the record through the Table API.
    var rec = current;
    var eventId = rec.getTableName() + ':' + rec.getUniqueValue() + ':' + rec.getValue('sys_mod_count');
    var extra = {};
"""

# the approver rows' rule (systems whose routes read `decision.source: approvers`): an approver's
# answer may leave the record itself unchanged (a quorum the connector counts), so each answer
# notifies, with the approver row's id and version as the delivery's identity
_APPROVER = """\
(function executeRule(current, previous /*null when async*/) {
    // approval-connector: an approver answered on a {table} record; tell the connector.
    // The body is only a hint; the connector re-reads the record and its approvers.
    // the record on its own table (sysapproval refers to the base task table, whose record
    // would not show the child table's own columns, such as a custom correlation field)
    var rec = new GlideRecord('{table}');
    if (!rec.get(current.getValue('sysapproval'))) { return; }
    var eventId = 'sysapproval_approver:' + current.getUniqueValue() + ':' +
        current.getValue('sys_mod_count');
    var extra = {
        approver_sys_id: current.getUniqueValue(),
        approver_mod_count: current.getValue('sys_mod_count')
    };
"""

# the record ``rec`` (this connector's, by its correlation prefix) as the hint's body
_BODY = """\
    var prefixes = {prefixes};
    var corr = String(rec.getValue({corr_field}) || '');
    var ours = false;
    for (var i = 0; i < prefixes.length; i++) {
        if (corr.indexOf(prefixes[i]) === 0) { ours = true; }
    }
    if (!ours) { return; }

    var fields = {
        event: 'record.updated',
        event_id: eventId,
        table: rec.getTableName(),
        sys_id: rec.getUniqueValue(),
        number: rec.getValue('number'),
        {corr_key}: corr,
        approval: rec.getValue('approval'),
        state: rec.getValue('state'),
        sys_updated_on: rec.getValue('sys_updated_on'),
        sys_mod_count: rec.getValue('sys_mod_count')
    };
    for (var k in extra) { fields[k] = extra[k]; }
    var body = JSON.stringify(fields);

"""

_SEND = """\
    // HMAC-SHA256 over "<timestamp>.<raw body>". GlideCertificateEncryption.generateMac wants
    // the KEY IN BASE64 and returns the MAC in Base64, so the plain shared secret from the
    // system property is Base64-encoded first. (Scoped apps: new sn_ws... CertificateEncryption.)
    var secret = gs.getProperty('{secret_property}');
    if (!secret) { gs.error('approval-connector: property {secret_property} is empty'); return; }
    var key = GlideStringUtil.base64Encode(secret);
    var ts = String(Math.floor(new GlideDateTime().getNumericValue() / 1000));
    var mac = new GlideCertificateEncryption().generateMac(key, 'HmacSHA256', ts + '.' + body);

    var rm = new sn_ws.RESTMessageV2();
    rm.setEndpoint('{url}');
    rm.setHttpMethod('post');
    rm.setRequestHeader('Content-Type', 'application/json');
    rm.setRequestHeader('{ts_header}', ts);
    rm.setRequestHeader('{sig_header}', 'sha256=' + mac);
    rm.setRequestBody(body);
    rm.setHttpTimeout(10000);
    try {
        var resp = rm.execute();
        if (resp.getStatusCode() >= 300) {
            gs.warn('approval-connector webhook answered ' + resp.getStatusCode());
        }
    } catch (e) {
        gs.warn('approval-connector webhook failed: ' + e);  // polling still finds the decision
    }
})(current, previous);
"""


def business_rule_script(adapter: ServiceNowAdapter, public_url: str) -> str:
    """Instructions plus one script per table used by this system's routes. Names the system
    property holding the secret, never the secret itself."""
    hook = adapter.settings.webhook
    url = public_url.rstrip("/")
    if not url.endswith(f"/webhooks/{adapter.name}"):
        url = f"{url}/webhooks/{adapter.name}"
    if hook is None:
        return (
            f"{adapter.name}: no webhook configured. Add `webhook: {{secret_env: SN_WEBHOOK_SECRET}}` to "
            f"systems.{adapter.name}; until then decisions are found by polling."
        )
    by_table: dict[str, tuple[set[str], set[str]]] = {}
    approver_tables: set[str] = set()  # tables whose routes read the approver rows
    for route in adapter.routes.values():
        prefixes, fields = by_table.setdefault(route.ticket.table, (set(), set()))
        prefixes.add(route.ticket.correlation_prefix)
        fields.add(route.ticket.correlation_field)
        if route.decision.source == "approvers":
            approver_tables.add(route.ticket.table)
    parts = [
        f"ServiceNow webhook for system {adapter.name!r} -> {url}",
        "",
        "1. Create a system property (sys_properties.list > New):",
        f"     name: {hook.secret_property}   type: password2 (encrypted)",
        f"     value: the same secret as in the connector's environment variable {hook.secret_env}",
        "   Use a long random ASCII secret, e.g.",
        '     python -c "import secrets; print(secrets.token_urlsafe(32))"',
        "2. For each table below create a Business Rule (System Definition > Business Rules > New):",
        "     When: async (after update), Update: checked, Advanced: checked",
        "     Condition: Approval changes OR State changes",
        "   and paste the script. The receiver must be reachable from the instance (public HTTPS or a",
        "   MID Server). Polling stays on as the source of truth; the webhook only makes it faster.",
    ]
    if approver_tables:
        parts += [
            "3. Routes here decide by approver rows (decision.source: approvers): also create, for each",
            "   rule on sysapproval_approver below, a Business Rule on table sysapproval_approver:",
            "     When: async (after update), Update: checked, Advanced: checked",
            "     Condition: State changes",
            "   so that each approver's answer is hinted at once, also when the record itself stays as",
            "   it was (a quorum the connector counts).",
        ]
    for table, (prefixes, fields) in sorted(by_table.items()):
        for corr_field in sorted(fields):
            values = {
                "{table}": table,
                "{prefixes}": json.dumps(sorted(prefixes)),
                "{corr_field}": json.dumps(corr_field),
                "{corr_key}": corr_field,
                "{secret_property}": hook.secret_property,
                "{url}": url.replace("'", "%27"),
                "{ts_header}": hook.timestamp_header,
                "{sig_header}": hook.signature_header,
            }
            parts += ["", f"--- Business rule on table {table} ---", _filled(_RECORD + _BODY + _SEND, values)]
            if table in approver_tables:
                title = f"--- Business rule on table sysapproval_approver (answers on {table}) ---"
                parts += ["", title, _filled(_APPROVER + _BODY + _SEND, values)]
    return "\n".join(parts)


def _filled(script: str, values: dict[str, str]) -> str:
    for key, val in values.items():
        script = script.replace(key, val)
    return script
