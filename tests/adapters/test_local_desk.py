"""The local desk's own decide(), as code (tests, scripts) calls it: a verdict given as plain text
means what it says."""

from __future__ import annotations

import pytest

from connector.core.errors import UserError
from connector.core.models import RequestState
from connector.demo import tools as demo_tools
from tests.conftest import EMAIL


@pytest.mark.parametrize(
    ("said", "state"), [("approved", RequestState.SUCCEEDED), ("rejected", RequestState.REJECTED)]
)
async def test_a_desk_decision_given_as_plain_text_means_what_it_says(connector, workdir, said, state):
    connector.register_tool(demo_tools.send_email)
    request = await connector.service.submit("send_email", EMAIL, {"agent": "a"})
    connector.adapters["desk"].decide(request.ticket.key, said, "alice")
    await connector.poll_once()
    assert connector.store.get(request.id).state is state
    with pytest.raises(UserError, match="approve or reject"):
        connector.adapters["desk"].decide(request.ticket.key, "maybe", "alice")
