"""check-config for Jira: offline validation and live checks against the simulator."""

from __future__ import annotations

from tests.adapters.jira.jira_testlib import ROUTE, build_adapter, route_settings


def rows(results, ok=None):
    return {r.item: r for r in results if ok is None or r.ok is ok}


def seed_samples(sim):
    sim.create_issue(status="Approved")
    sim.create_issue(status="Rejected")
    sim.create_issue(status="Awaiting Approval")


def test_live_all_fine(sim):
    seed_samples(sim)
    results = build_adapter(sim).check(live=True)
    assert rows(results, ok=False) == {}
    items = rows(results)
    assert "credentials" in items and f"route {ROUTE}: issue type Task" in items
    assert items[f"route {ROUTE}: outcome.on_success transition 'Mark executed'"].ok


def test_live_missing_status_reported(sim):
    seed_samples(sim)
    adapter = build_adapter(sim, routes={ROUTE: route_settings(decision={"approved": ["Approoved"]})})
    assert f"route {ROUTE}: decision.approved status 'Approoved'" in rows(adapter.check(live=True), ok=False)


def test_live_missing_field_reported(sim):
    seed_samples(sim)
    routes = {ROUTE: route_settings(ticket={"project": "OPS", "fields": {"Customer Emial": "x"}})}
    assert f"route {ROUTE}: ticket.fields.Customer Emial" in rows(
        build_adapter(sim, routes=routes).check(True), False
    )


def test_live_missing_transition_reported(sim):
    seed_samples(sim)
    adapter = build_adapter(sim, routes={ROUTE: route_settings(outcome={"on_failure": "Explode"})})
    bad = rows(adapter.check(live=True), ok=False)
    assert (
        "offered: Mark executed, Mark failed, Reopen"
        in bad[f"route {ROUTE}: outcome.on_failure transition 'Explode'"].detail
    )


def test_live_transition_missing_required_field_reported(sim):
    seed_samples(sim)
    adapter = build_adapter(sim, routes={ROUTE: route_settings(outcome={"on_success": "Mark executed"})})
    bad = rows(adapter.check(live=True), ok=False)
    assert "resolution" in bad[f"route {ROUTE}: outcome.on_success transition 'Mark executed'"].detail


def test_live_transition_unverifiable_without_sample_is_warning(sim):
    results = rows(build_adapter(sim).check(live=True))
    row = results[f"route {ROUTE}: outcome.on_success transition 'Mark executed'"]
    assert row.ok and row.warning


def test_live_missing_project_and_issue_type(sim):
    routes = {ROUTE: route_settings(ticket={"project": "NOPE"})}
    assert f"route {ROUTE}: project NOPE" in rows(build_adapter(sim, routes=routes).check(True), ok=False)
    routes = {ROUTE: route_settings(ticket={"project": "OPS", "issue_type": "Bug"})}
    assert f"route {ROUTE}: issue type Bug" in rows(build_adapter(sim, routes=routes).check(True), ok=False)


def test_live_bad_credentials(sim):
    adapter = build_adapter(sim, env={**sim.demo_env(), "JIRA_API_TOKEN": "nope"})
    assert not rows(adapter.check(live=True))["credentials"].ok


def test_offline_makes_no_call_and_flags_unset_variables(sim):
    adapter = build_adapter(sim, env={"JIRA_EMAIL": "x"})
    bad = rows(adapter.check(live=False), ok=False)
    assert set(bad) == {"auth.token_env", "webhook.secret_env"} and sim.call_count() == 0


def test_offline_bad_template(sim):
    adapter = build_adapter(
        sim, routes={ROUTE: route_settings(ticket={"project": "OPS", "summary": "{{ oops"})}
    )
    assert f"route {ROUTE}: ticket.summary" in rows(adapter.check(live=False), ok=False)


def test_live_deployment_mismatch(sim):
    assert not rows(build_adapter(sim, deployment="datacenter").check(live=True))["deployment"].ok


def test_live_missing_arguments_field_reported(sim):
    seed_samples(sim)
    routes = {ROUTE: route_settings(decision={"arguments_field": "Aproved arguments"})}  # misspelt
    bad = rows(build_adapter(sim, routes=routes).check(True), False)
    assert "not found in GET /field" in bad[f"route {ROUTE}: decision.arguments_field"].detail
    routes = {ROUTE: route_settings(decision={"arguments_field": "Approved arguments"})}
    assert rows(build_adapter(sim, routes=routes).check(True), False) == {}


def test_an_arguments_field_mapped_in_ticket_fields_fails_offline(sim):
    routes = {
        ROUTE: route_settings(
            ticket={"project": "OPS", "fields": {"customfield_10100": "{{ args.to }}"}},
            decision={"arguments_field": "customfield_10100"},
        )
    }
    bad = rows(build_adapter(sim, routes=routes).check(False), False)
    assert "connector alone writes" in bad[f"route {ROUTE}: decision.arguments_field"].detail
