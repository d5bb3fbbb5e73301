"""The plugin as a user's suite meets it: a fresh directory with no conftest of this project, only
the installed package (the ``pytest11`` entry point loads the fixtures), run in its own pytest
process. A flow that holds passes; a wrong expectation or a broken config fails with a line that
says what is wrong, not a traceback through the kit. (One process for all cases: each start
imports the whole stack.)"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

HERE = Path(__file__).parent

USER_TESTS = """
import pytest
from autogen_core import CancellationToken

from connector.gate import approval_context

async def issue_refund(customer: str, amount_eur: float, reason: str) -> str:
    return f"refunded {amount_eur:.2f} EUR to {customer}"

async def approved(flow):
    refund = flow.gate(issue_refund)
    with approval_context(requester="bob@example.com"):
        await refund.run_json({"customer": "jane@example.com", "amount_eur": 42.0, "reason": "twice"},
                              CancellationToken())
    flow.approve(as_user="alice")
    await flow.cycle()

async def test_holds(approval_flow):
    flow = approval_flow()  # the config the ini names
    await approved(flow)
    flow.assert_ran_once("issue_refund", customer="jane@example.com", amount_eur=42.0)
    flow.assert_commented("refunded 42.00 EUR")

async def test_wrong_amount(approval_flow):
    flow = approval_flow()
    await approved(flow)
    flow.assert_ran_once("issue_refund", amount_eur=40.0)

async def test_wrong_comment(approval_flow):
    flow = approval_flow()
    await approved(flow)
    flow.assert_commented("sent a voucher")

def test_broken_config(approval_flow):
    approval_flow("broken.yaml")
"""


@pytest.fixture
def result(pytester: pytest.Pytester) -> pytest.RunResult:
    text = (HERE / "refunds.yaml").read_text()
    shutil.copy(HERE / "refunds.yaml", pytester.path / "refunds.yaml")
    (pytester.path / "broken.yaml").write_text(text.replace("deadline: 4h", "deadline: 4 hours"))
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
        "approval_connector_config = refunds.yaml\n"
    )
    pytester.makepyfile(test_refunds=USER_TESTS)
    assert not (pytester.path / "conftest.py").exists()
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rA")


def test_a_fresh_suite_with_only_the_plugin_passes_and_fails_readably(result):
    out = result.stdout.str()
    result.assert_outcomes(passed=1, failed=3)
    result.stdout.fnmatch_lines(["PASSED test_refunds.py::test_holds"])
    # a wrong argument: what it was, what was expected, and the state in words
    result.stdout.fnmatch_lines(
        [
            "*issue_refund ran once, but amount_eur=42.0, expected 40.0*",
            "*issue_refund SUCCEEDED, OPS-1 'Done'*",
        ]
    )
    # a missing comment: the comments the ticket has
    result.stdout.fnmatch_lines(
        ["*no comment on the ticket containing 'sent a voucher'; its comments:*", "*- *refunded 42.00 EUR*"]
    )
    # a broken config: one line with file, line and key; no traceback
    result.stdout.fnmatch_lines(["approval_flow: *broken.yaml:18: routes[[]0[]].deadline: '4 hours' is not*"])
    assert "During handling" not in out and "Traceback" not in out
    assert "connector/testing/expect.py" not in out  # the failing line shown is the user's own


def test_the_readme_shows_the_example_exactly_as_it_is_tested():
    readme = (HERE.parents[1] / "README.md").read_text()
    section = readme.split("## Testing your own flows\n", 1)[1].split("\n## ", 1)[0]
    assert "```python\n" + (HERE / "test_plugin_example.py").read_text() + "```" in section
    assert "```yaml\n" + (HERE / "refunds.yaml").read_text() + "```" in section
