"""The README's "Testing your own flows" example, as a user writes it: their own gated tool,
their own config file (refunds.yaml beside this file), and only the approval_flow fixture of the
pytest plugin. Keep the README's copy in step with this file."""

from pathlib import Path

from autogen_core import CancellationToken

from connector.gate import approval_context

CONFIG = Path(__file__).with_name("refunds.yaml")
REFUND = {"customer": "jane@example.com", "amount_eur": 42.0, "reason": "charged twice"}


async def issue_refund(customer: str, amount_eur: float, reason: str) -> str:
    """Refund a customer (in real life: the payment provider's API)."""
    return f"refunded {amount_eur:.2f} EUR to {customer}"


async def ask_for_refund(flow) -> str:
    """What the agent does: call the gated tool (an AssistantAgent calls it the same way)."""
    refund = flow.gate(issue_refund)
    with approval_context(requester="bob@example.com", rationale="the customer was charged twice"):
        return await refund.run_json(REFUND, CancellationToken())


async def test_a_refund_runs_once_when_a_lead_approves_it_in_jira(approval_flow):
    flow = approval_flow(CONFIG)
    answer = await ask_for_refund(flow)
    assert "pending human approval" in answer
    flow.assert_not_run()  # nothing runs before a human decides
    assert "Refund 42.0 EUR to jane@example.com" in flow.describe()

    flow.approve(as_user="alice")  # alice is in group change-approvers in the simulated Jira
    await flow.cycle()  # one scheduler cycle: poll, run, report

    flow.assert_ran_once("issue_refund", REFUND)
    flow.assert_state("SUCCEEDED")
    flow.assert_commented("refunded 42.00 EUR to jane@example.com")


async def test_a_rejected_refund_never_runs_and_the_ticket_says_why(approval_flow):
    flow = approval_flow(CONFIG)
    await ask_for_refund(flow)
    flow.reject(as_user="alice", reason="Refunded by bank transfer already")
    await flow.cycle()

    flow.assert_not_run("issue_refund")
    flow.assert_state("REJECTED")
    flow.assert_commented(r"Rejection recorded.*not run", regex=True)


async def test_an_outsider_cannot_approve(approval_flow):
    flow = approval_flow(CONFIG)
    await ask_for_refund(flow)
    flow.approve(as_user="mallory")  # a Jira user, but not in change-approvers
    await flow.cycle()

    flow.assert_not_run()
    flow.assert_commented("not an allowed approver")


async def test_an_undecided_refund_is_reminded_then_expires(approval_flow):
    flow = approval_flow(CONFIG)
    await ask_for_refund(flow)

    await flow.fast_forward("61m")  # remind_after: 1h
    flow.assert_commented("Reminder 1 of 1")
    await flow.fast_forward("3h")  # deadline: 4h

    flow.assert_expired()
    flow.assert_not_run()
    flow.assert_commented("issue_refund was not run")
