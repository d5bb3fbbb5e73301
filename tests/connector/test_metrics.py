"""/metrics as Prometheus reads it: every series once per scrape, counts that add up."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from connector.core.models import RequestState, Verdict
from connector.demo.tools import send_email
from tests.conftest import EMAIL


def _samples(text: str) -> list[tuple[str, tuple[tuple[str, str], ...], float]]:
    return [
        (s.name, tuple(sorted(s.labels.items())), s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


async def test_requests_by_state_is_one_series_per_state_summed_over_routes(connector):
    """Two routes with requests in the same state: Prometheus drops a scrape's second sample of
    one series ("duplicate sample"), so each state must be exported once, with the sum."""
    connector.register_tool(send_email)
    internal = dict(EMAIL, to="ops@ourco.example")  # the auto route: runs at once
    assert (
        await connector.service.submit("send_email", internal, {"agent": "a"})
    ).state is RequestState.SUCCEEDED
    gated = await connector.service.submit("send_email", EMAIL, {"agent": "a"})  # customer-email
    connector.adapters["desk"].decide(gated.ticket.key, Verdict.APPROVED, "alice")
    await connector.poll_once()
    await connector.service.drain(10)
    assert connector.store.get(gated.id).state is RequestState.SUCCEEDED
    samples = _samples(connector.metrics.render().decode())
    series = [(name, labels) for name, labels, _ in samples]
    assert len(series) == len(set(series)), sorted(s for s in series if series.count(s) > 1)
    by_state = {
        dict(labels)["state"]: value for name, labels, value in samples if name == "approval_requests"
    }
    assert by_state["SUCCEEDED"] == 2
