"""Comments as questions for a waiting conversation: people's comments with their Jira identity
(accountId, e-mail alias), never the connector's own, only since the given time."""

from __future__ import annotations

from datetime import timedelta

from connector.core.models import utcnow
from tests.adapters.jira.jira_testlib import make_request


def test_questions_are_peoples_comments_never_the_connectors_own(sim, adapter):
    request = make_request()
    ref = adapter.create_ticket(request)
    adapter.client.add_comment(ref.key, "@agent the bot talking to itself")
    sim.comment(ref.key, "@agent why this subject line?", actor="alice")
    sim.comment(ref.key, "plain remark", actor="mallory")
    found = adapter.questions(ref, request, utcnow() - timedelta(minutes=5))
    assert [(q.text, q.actor.id) for q in found] == [
        ("@agent why this subject line?", "5b10a2844c20165700ede21a"),
        ("plain remark", "5b10a2844c20165700ede21c"),
    ]
    assert "alice@example.com" in found[0].actor.names()
    assert len({q.id for q in found}) == 2
    assert adapter.questions(ref, request, utcnow() + timedelta(minutes=5)) == []
