"""Webhooks: signature checks (good, forged, unsigned, stale, garbage), parsing into hints, the
business-rule script, and the simulator's signed notifications end to end."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import responses

from adapters.servicenow import ServiceNowAdapter
from adapters.servicenow.simulator import ServiceNowSimulator
from adapters.servicenow.webhook import sign
from connector.core.errors import ConfigError, WebhookRejected
from tests.adapters.servicenow.sn_testlib import ENV, ROUTE, SYSTEM, WEBHOOK_SECRET, make_request

FIXTURES = Path(__file__).parent / "fixtures"
HOOK_URL = "https://connector.example/webhooks/sn"
PAYLOAD = (FIXTURES / "webhook__approval_decided.payload.json").read_bytes()
NOW = 1_777_887_667


def signed(body: bytes, secret: str = WEBHOOK_SECRET, stamp: int = NOW) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-SN-Webhook-Timestamp": str(stamp),
        "X-SN-Webhook-Signature": sign(secret, str(stamp), body),
    }


@pytest.fixture
def hooked(make_adapter: Callable[..., ServiceNowAdapter]) -> ServiceNowAdapter:
    return make_adapter(now=lambda: NOW + 5)


def test_good_signature_passes(hooked: ServiceNowAdapter) -> None:
    hooked.verify_webhook(signed(PAYLOAD), PAYLOAD)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda h, b: (h, b.replace(b"approved", b"rejected")),  # body changed after signing
        lambda h, b: (signed(b, secret="not-the-secret"), b),  # forged with another key
        lambda h, b: ({k: v for k, v in h.items() if "Signature" not in k}, b),  # unsigned
        lambda h, b: ({k: v for k, v in h.items() if "Timestamp" not in k}, b),  # no timestamp
        lambda h, b: ({**h, "X-SN-Webhook-Timestamp": str(NOW + 1)}, b),  # timestamp swapped
        lambda h, b: ({**h, "X-SN-Webhook-Timestamp": "soon"}, b),
        lambda h, b: ({**h, "X-SN-Webhook-Timestamp": "²"}, b),  # a digit to isdigit(): was a 500
        lambda h, b: ({**h, "X-SN-Webhook-Signature": "sha256=" + "A" * 44}, b),
        lambda h, b: ({**h, "X-SN-Webhook-Signature": "sha256=é"}, b),
        lambda h, b: (signed(b, stamp=NOW - 3600), b),  # replayed an hour later
    ],
)
def test_forged_unsigned_or_stale_is_401(
    hooked: ServiceNowAdapter, tamper: Callable[[dict[str, str], bytes], tuple[dict[str, str], bytes]]
) -> None:
    headers, body = tamper(signed(PAYLOAD), PAYLOAD)
    with pytest.raises(WebhookRejected) as info:
        hooked.verify_webhook(headers, body)
    assert info.value.status == 401


def test_header_names_are_case_insensitive(hooked: ServiceNowAdapter) -> None:
    hooked.verify_webhook({k.lower(): v for k, v in signed(PAYLOAD).items()}, PAYLOAD)


def test_base64_key_handling_matches_glide_certificate_encryption() -> None:
    """generateMac(key, 'HmacSHA256', data) takes the key in Base64 and returns a Base64 MAC;
    the script passes base64(secret), which decodes back to the secret bytes used here."""
    data = "1777887667." + json.dumps({"note": "Änderung — ✓"}, ensure_ascii=False)
    key_b64 = base64.b64encode(WEBHOOK_SECRET.encode()).decode()
    glide = base64.b64encode(hmac.new(base64.b64decode(key_b64), data.encode(), hashlib.sha256).digest())
    stamp, _, body = data.partition(".")
    assert sign(WEBHOOK_SECRET, stamp, body.encode()) == "sha256=" + glide.decode()


def test_fixture_payload_parses_into_a_hint(hooked: ServiceNowAdapter) -> None:
    [event] = hooked.parse_webhook(signed(PAYLOAD), PAYLOAD)
    assert event.ticket_key == "CHG0030107" and event.request_id == "7f3c9a12-5d7e-4c1b-9b1e-2f0c4a6d8e11"
    assert event.decision is None and event.source == "webhook"
    assert event.delivery_id == "a1b2c3d4e5f60718293a4b5c6d7e8f90:8"
    assert hooked.webhook_delivery_id({}, PAYLOAD) == event.delivery_id


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b"[1, 2]",
        b'"text"',
        b"{}",
        b'{"number": "CHG1"}',
        b'{"sys_id": {"nested": []}, "number": 5}',
        b"[" * 5000 + b"]" * 5000,
        b"{" + b" " * 300_000 + b"}",
    ],
)
def test_garbage_is_400_never_a_crash(hooked: ServiceNowAdapter, body: bytes) -> None:
    with pytest.raises(WebhookRejected) as info:
        hooked.parse_webhook(signed(body), body)
    assert info.value.status == 400
    assert hooked.webhook_delivery_id({}, body) is None


def test_records_of_other_integrations_are_ignored(hooked: ServiceNowAdapter) -> None:
    body = json.dumps({"sys_id": "abc", "number": "CHG9", "correlation_id": "other-tool:42"}).encode()
    assert hooked.parse_webhook(signed(body), body) == []


def test_without_webhook_settings_deliveries_are_refused(
    make_adapter: Callable[..., ServiceNowAdapter],
) -> None:
    adapter = make_adapter(system={k: v for k, v in SYSTEM.items() if k != "webhook"})
    with pytest.raises(WebhookRejected) as info:
        adapter.verify_webhook(signed(PAYLOAD), PAYLOAD)
    assert info.value.status == 404


def test_missing_secret_refuses_without_crashing(make_adapter: Callable[..., ServiceNowAdapter]) -> None:
    adapter = make_adapter(env={k: v for k, v in ENV.items() if k != "SN_WEBHOOK_SECRET"})
    with pytest.raises(WebhookRejected) as info:
        adapter.verify_webhook(signed(PAYLOAD), PAYLOAD)
    assert info.value.status == 503 and str(info.value) == "webhook secret not configured"  # as in Jira


def test_setup_script(hooked: ServiceNowAdapter) -> None:
    script = hooked.webhook_setup("https://connector.example")
    assert f"rm.setEndpoint('{HOOK_URL}')" in script
    assert "GlideStringUtil.base64Encode(secret)" in script and "generateMac(key, 'HmacSHA256'" in script
    assert "gs.getProperty('x_approval_connector.webhook_secret')" in script
    assert "X-SN-Webhook-Signature" in script and "X-SN-Webhook-Timestamp" in script
    assert '["agent-action:"]' in script and 'rec.getValue("correlation_id")' in script
    assert WEBHOOK_SECRET not in script and "SN_WEBHOOK_SECRET" in script
    with pytest.raises(ConfigError):
        hooked.register_webhook("https://connector.example")


def test_routes_deciding_by_approver_rows_get_the_approver_rule_too(
    make_adapter: Callable[..., ServiceNowAdapter], tmp_path: Path
) -> None:
    """With ``decision.source: approvers`` the set-up also prints the rule on sysapproval_approver
    (each answer is its own delivery); every printed rule is valid JavaScript (node --check)."""
    import shutil
    import subprocess

    by_rows = {**ROUTE, "decision": {"source": "approvers"}}
    plain = make_adapter().webhook_setup("https://connector.example")
    script = make_adapter(routes={"change": by_rows}).webhook_setup("https://connector.example")
    assert "sysapproval_approver" not in plain
    assert "--- Business rule on table sysapproval_approver (answers on change_request) ---" in script
    assert "rec.get(current.getValue('sysapproval'))" in script and "approver_mod_count" in script
    if shutil.which("node") is None:
        pytest.skip("node is not installed: the rules' syntax is not checked")
    rules = [part.split("---\n", 1)[1] for part in script.split("--- Business rule on table ")[1:]]
    assert len(rules) == 2
    for i, rule in enumerate(rules):
        path = tmp_path / f"rule{i}.js"
        path.write_text(rule)
        checked = subprocess.run(["node", "--check", str(path)], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr


def test_simulator_sends_a_signed_hint_the_adapter_accepts(
    adapter: ServiceNowAdapter, sim: ServiceNowSimulator, rsps: responses.RequestsMock
) -> None:
    received: list[tuple[dict[str, str], bytes]] = []

    def endpoint(request: Any) -> tuple[int, dict[str, str], bytes]:
        body = request.body if isinstance(request.body, bytes) else request.body.encode()
        received.append((dict(request.headers), body))
        return 204, {}, b""

    rsps.add_callback("POST", HOOK_URL, callback=endpoint)
    sim.set_webhook(HOOK_URL, WEBHOOK_SECRET)
    request = make_request()
    ticket = adapter.create_ticket(request)
    received.clear()  # approval requested on insert also notifies
    sim.approve(ticket.key, "change.manager")
    assert received and sim.webhooks_sent[-1]["status"] == 204
    # the record's rule (its approval rolled up) and the approver rows' rule both notify
    [answer] = [(h, b) for h, b in received if b"approver_sys_id" in b]
    headers, body = [(h, b) for h, b in received if b"approver_sys_id" not in b][-1]
    adapter.verify_webhook(headers, body)
    [event] = adapter.parse_webhook(headers, body)
    assert (event.ticket_key, event.request_id) == (ticket.key, request.id)
    assert event.delivery_id == f"{ticket.id}:{sim.record(ticket.key)['sys_mod_count']}"
    adapter.verify_webhook(*answer)
    [hint] = adapter.parse_webhook(*answer)
    [row] = sim.approvals(ticket.key)
    assert (hint.ticket_key, hint.request_id) == (ticket.key, request.id)
    assert hint.delivery_id == f"{row['sys_id']}:{row['sys_mod_count']}"  # each answer its own delivery
    with pytest.raises(WebhookRejected):
        adapter.verify_webhook(headers, body.replace(b"approved", b"rejected"))
    assert abs(int(headers["X-SN-Webhook-Timestamp"]) - time.time()) < 60
