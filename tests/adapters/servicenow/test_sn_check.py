"""check-config: offline secrets, and live against the simulator (fine, missing field, missing
choice, unreadable table, bad credentials)."""

from __future__ import annotations

from collections.abc import Callable

import responses

from adapters.servicenow import ServiceNowAdapter
from adapters.servicenow.simulator import ServiceNowSimulator
from connector.core.models import CheckResult
from tests.adapters.servicenow.sn_testlib import ENV, route_dict

MakeAdapter = Callable[..., ServiceNowAdapter]


def failures(results: list[CheckResult]) -> dict[str, str]:
    return {r.item: r.detail for r in results if not r.ok}


def test_offline_checks_secrets_without_calls(make_adapter: MakeAdapter, sim: ServiceNowSimulator) -> None:
    adapter = make_adapter(env={k: v for k, v in ENV.items() if k != "SN_PASSWORD"})
    results = adapter.check(live=False)
    assert failures(results) == {
        "secret SN_PASSWORD": "systems.sn.auth.password_env: environment variable SN_PASSWORD is not set"
    }
    assert ENV["SN_PASSWORD"] not in repr(results)
    assert sim.calls == []


def test_live_check_passes_on_a_good_config(adapter: ServiceNowAdapter) -> None:
    results = adapter.check(live=True)
    assert failures(results) == {}
    items = {r.item for r in results}
    [risk] = [r for r in results if r.item == "choices change_request.risk"]
    assert risk.warning and "'4'" in risk.detail  # templated: valid values listed, not checkable
    assert {
        "credentials",
        "table change_request",
        "field change_request.approval",
        "field change_request.u_agent_run",
        "field change_request.correlation_id",
        "choices change_request.state",
        "choices change_request.risk",
        "read sys_audit",
        "read sys_journal_field",
        "Batch API",
    } <= items
    [batch] = [r for r in results if r.item == "Batch API"]
    assert batch.ok and not batch.warning


def test_live_check_warns_when_the_batch_api_is_refused(
    adapter: ServiceNowAdapter, sim: ServiceNowSimulator
) -> None:
    sim.inject_fault(403, path="/v1/batch$", body={"error": {"message": "Access to API denied"}})
    [batch] = [r for r in adapter.check(live=True) if r.item == "Batch API"]
    assert batch.ok and batch.warning and "one more call" in batch.detail


def test_live_check_finds_missing_field_and_choice(
    adapter: ServiceNowAdapter, sim: ServiceNowSimulator
) -> None:
    sim.remove_field("change_request", "u_agent_run")
    sim.remove_choice("change_request", "category", "Software")
    sim.remove_choice("change_request", "state", "0")
    found = failures(adapter.check(live=True))
    assert set(found) == {
        "field change_request.u_agent_run",
        "choices change_request.category",
        "choices change_request.state",
    }
    assert "silently ignore" in found["field change_request.u_agent_run"]
    assert "['Software']" in found["choices change_request.category"]
    assert "['0']" in found["choices change_request.state"]


def test_live_check_unknown_table(make_adapter: MakeAdapter, rsps: responses.RequestsMock) -> None:
    adapter = make_adapter(routes={"change": route_dict(ticket={"table": "u_agent_request", "fields": {}})})
    assert "table u_agent_request" in failures(adapter.check(live=True))


def test_live_check_unreadable_audit(adapter: ServiceNowAdapter, sim: ServiceNowSimulator) -> None:
    sim.read_roles["sys_audit"] = {"admin"}
    found = failures(adapter.check(live=True))
    assert list(found) == ["read sys_audit"] and "Insufficient rights" in found["read sys_audit"]
    assert "read ACL on sys_audit" in found["read sys_audit"]  # says what to grant
    assert "decision.source: approvers" in found["read sys_audit"]


def test_live_check_warns_when_no_audit_row_is_readable(
    adapter: ServiceNowAdapter, sim: ServiceNowSimulator
) -> None:
    with sim.lock:
        sim.rows["sys_audit"].clear()  # as a row-filtering ACL shows the table: nothing at all
    [result] = [r for r in adapter.check(live=True) if r.item == "read sys_audit"]
    assert result.ok and result.warning and "read ACL on sys_audit" in result.detail


def test_live_check_bad_credentials(make_adapter: MakeAdapter, rsps: responses.RequestsMock) -> None:
    adapter = make_adapter(env={**ENV, "SN_PASSWORD": "wrong"})
    results = adapter.check(live=True)
    found = failures(results)
    assert list(found) == ["live checks"] and "refused the credentials" in found["live checks"]
    assert "wrong" not in repr(results)


def test_live_check_wrong_service_account_sys_id(
    make_adapter: MakeAdapter, rsps: responses.RequestsMock
) -> None:
    from tests.adapters.servicenow.sn_testlib import SYSTEM

    adapter = make_adapter(
        system={**SYSTEM, "service_account": {"user_name": "svc_connector", "sys_id": "nope"}}
    )
    assert "service account" in failures(adapter.check(live=True))


def test_live_check_finds_a_missing_arguments_column(
    make_adapter: MakeAdapter, sim: ServiceNowSimulator, rsps: responses.RequestsMock
) -> None:
    decision = {**route_dict()["decision"], "arguments_field": "u_approved_args"}  # misspelt
    adapter = make_adapter(routes={"change": route_dict(decision=decision)})
    found = failures(adapter.check(live=True))
    assert "silently ignore" in found["field change_request.u_approved_args"]
    sim.add_field("change_request", "u_approved_args")
    assert failures(adapter.check(live=True)) == {}
