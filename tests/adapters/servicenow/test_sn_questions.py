"""Work notes and comments as questions for a waiting conversation: the author resolved through
sys_user (sys_id, user name and e-mail usable in approver lists), never the connector's own notes
(its outcome notes and answers)."""

from __future__ import annotations

from datetime import timedelta

from connector.core.models import OutcomeReport, ReportKind, utcnow


def test_questions_are_peoples_journal_entries_never_the_connectors_own(sim, adapter, new_request):
    request = new_request()
    ref = adapter.create_ticket(request)
    adapter.report(
        ref,
        OutcomeReport(
            report_id="r:answer:1",
            request_id=request.id,
            kind=ReportKind.ANSWER,
            text="@agent the connector's own answer",
            final=False,
        ),
        0,
    )
    sim.update(ref.key, "change.manager", work_notes="@agent which laptop model?")
    sim.update(ref.key, "requester", comments="any news?")
    found = adapter.questions(ref, request, utcnow() - timedelta(minutes=5))
    assert [q.text for q in found] == ["@agent which laptop model?", "any news?"]
    manager = found[0].actor
    assert (
        manager.display == "Casey Manager"
        and {"change.manager", "casey.manager@example.com"} <= manager.names()
    )
    assert adapter.questions(ref, request, utcnow() + timedelta(minutes=5)) == []
    assert sim.record(ref.key)["state"] == "-5"  # a non-final report never moves the record
