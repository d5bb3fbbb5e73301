"""``demo --example NAME``: one of the shipped use cases in ``examples/`` played through here
(connector.demo.examples.run_example), and ``demo --example list``. The examples live in the
repository, not the installed package, so this runs from a checkout's root."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from connector.app.cli import codes
from connector.app.cli.output import out
from connector.core.errors import UserError
from connector.core.models import Verdict

if TYPE_CHECKING:
    from connector.app.cli.demo import Plan


def _checkout_on_path() -> None:
    """The installed ``approval-connector`` script does not look in the working directory; run
    from a checkout's root, its ``examples`` package is found there, as ``python -m`` would."""
    here = Path.cwd()
    if (here / "examples" / "__init__.py").is_file() and str(here) not in sys.path:
        sys.path.insert(0, str(here))


def list_examples() -> int:
    from connector.demo.examples import NAMES, load

    _checkout_on_path()
    for name in NAMES:
        try:
            example = load(name)
        except UserError:
            out.print(f"{name}  (not here: run from a checkout of the repository)")
            continue
        out.print(f"{name:<14} {example.title}  (systems: {', '.join(example.configs)})")
    return codes.OK


def play_example(
    name: str, system: str | None, plan: Plan, model: str, framework: str, mcp: bool, actor: str | None
) -> int:
    """Run one example; its exit code is 0 when the story ran to its end (the call ran, or the
    rejection was heard and the revised proposal approved), 4 when it stopped short."""
    if framework != "autogen" or mcp or actor:
        raise UserError(
            "--example plays the example's own team and approver: leave out --framework, --mcp, --as"
        )
    from connector.demo.examples import load, run_example

    _checkout_on_path()
    example = load(name)
    chosen = system or next(iter(example.configs))
    example.config_path(chosen)  # one clear line when the example does not run on that system
    if plan.verdict is None:
        raise UserError("--example runs unattended: pass --approve, --reject REASON or --edit JSON")
    if plan.edit is not None:
        decision = ("edit", plan.edit)
    elif plan.verdict is Verdict.REJECTED:
        decision = ("reject", plan.reason)
    else:
        decision = ("approve", "")
    run = run_example(name, chosen, decision, model=model, console=out)
    out.print(f"conversation {run.conversation_id}: {run.status}")
    return codes.OK if run.status == "done" else codes.CALL_FAILED
