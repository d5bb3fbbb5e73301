"""Who a spelling names in Jira (Cloud and Data Center), as the core compares requesters and
approvers: one Actor for every spelling Jira maps to the same person, None for nobody or for a
spelling that fits several people; look-ups and an approver's groups are cached for a while."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import responses

from adapters.jira.simulator import JiraSimulator
from tests.adapters.jira.jira_testlib import ROUTE, build_adapter, make_request, route_settings

SPELLINGS = ["bob@example.com ", "bob", "BOB@example.com", " Bob Requester"]


@pytest.fixture(params=["cloud", "datacenter"])
def any_sim(request) -> Iterator[JiraSimulator]:
    simulator = JiraSimulator.seeded_demo(f"https://{request.param}.example.test", deployment=request.param)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        simulator.install(rsps)
        yield simulator


def test_every_spelling_of_bob_is_the_same_actor(any_sim):
    adapter = build_adapter(any_sim)
    actors = {name: adapter.resolve_identity(name) for name in SPELLINGS}
    bob = actors["bob"]
    assert bob is not None and all(actor == bob for actor in actors.values()), actors
    user = any_sim.users["bob"]
    assert bob.id == (user.account_id if any_sim.cloud else user.key)
    assert bob == adapter.resolve_identity(bob.id)  # by its own id, too
    assert "bob@example.com" in bob.aliases


@pytest.mark.parametrize("name", ["nobody@example.com", "carol", "", "   ", "5b10a2844c20165700ede99f"])
def test_unknown_names_resolve_to_nobody(any_sim, name):
    assert build_adapter(any_sim).resolve_identity(name) is None


def test_a_name_that_fits_several_people_resolves_to_nobody(any_sim):
    any_sim.add_user("bob2", "Robert Other", "bob@elsewhere.example", groups={"jira-software-users"})
    adapter = build_adapter(any_sim)
    if any_sim.cloud:  # Cloud has no user names: "bob" is now two people's e-mail local part
        assert adapter.resolve_identity("bob") is None
    else:  # Data Center: the user name bob is one person
        assert adapter.resolve_identity("bob").id == any_sim.users["bob"].key
    assert adapter.resolve_identity("bob@example.com").id == adapter.resolve_identity("BOB@EXAMPLE.COM").id


def test_resolved_names_are_cached(sim):
    adapter = build_adapter(sim)
    adapter.resolve_identity("bob@example.com")
    before = sim.call_count()
    assert adapter.resolve_identity(" BOB@example.com") is not None
    assert adapter.resolve_identity("nobody@example.com") is None
    assert adapter.resolve_identity("nobody@example.com") is None
    assert sim.call_count() - before == 1  # only the first look-up of nobody


def test_no_cache_when_the_ttl_is_zero(sim):
    adapter = build_adapter(sim, identity_cache_seconds=0)
    adapter.resolve_identity("bob@example.com")
    before = sim.call_count()
    adapter.resolve_identity("bob@example.com")
    assert sim.call_count() - before == 1


def test_group_approvers_cost_one_user_read_per_person_not_per_approval(sim):
    adapter = build_adapter(sim, routes={ROUTE: route_settings(decision={"fetch_groups": True})})
    for n in range(3):
        request = make_request(f"req-{n}")
        ref = adapter.create_ticket(request)
        sim.transition(ref.key, "Approve", actor="alice")
        assert "change-approvers" in adapter.read_decision(ref, request).actor.groups
    assert sim.call_count("GET", "/user$") == 1


def test_group_look_up_on_datacenter_is_by_user_key(dc_sim):
    adapter = build_adapter(dc_sim, routes={ROUTE: route_settings(decision={"fetch_groups": True})})
    request = make_request()
    ref = adapter.create_ticket(request)
    dc_sim.transition(ref.key, "Approve", actor="alice")
    assert "change-approvers" in adapter.read_decision(ref, request).actor.groups
