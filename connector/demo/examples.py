"""The runnable use cases in ``examples/`` (refund e-mail, CRM update, change triage), each a
resumable conversation: ``run_example(name, system, decision)`` plays one through in this process —
the team defers to a ticket, a person decides in the ticketing system (the local desk, or Jira /
ServiceNow simulated over real HTTP), and a second connector, standing for the process that
handles the decision, runs the call once and resumes the conversation with the outcome.

Each example package (``examples/<name>/``) defines ``EXAMPLE`` (an ``Example``) and its team
factory; ``python -m examples.<name>`` is its command line (``main``). The examples live in the
repository, not in the installed package: run them from a checkout."""

from __future__ import annotations

import asyncio
import importlib
import itertools
import json
import os
import sys
import tempfile
import textwrap
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from autogen_agentchat.messages import BaseChatMessage, ToolCallRequestEvent
from rich.console import Console

from connector.app.config import parse_config
from connector.app.runtime import Connector
from connector.core.errors import UserError
from connector.core.models import ApprovalRequest, Verdict
from connector.testing.driver import TicketDriver

NAMES = {"refund-email": "refund_email", "crm-update": "crm_update", "change-triage": "change_triage"}
SHOWN = ("TextMessage", "HandoffMessage", "ToolCallSummaryMessage", "ToolCallRequestEvent")
SIM_ENV = {
    "servicenow": {"SN_USER": "svc_connector", "SN_PASSWORD": "svc-password"},
}


@dataclass
class Example:
    """What an example declares; everything else is shared."""

    name: str
    title: str
    factory: str  # "examples.<pkg>.team:build_team"
    task: str
    requester: str
    rationale: str
    configs: dict[str, str]  # system -> config file beside the package
    approvers: dict[str, str]  # system -> who decides in the example
    effect: Callable[[], list[str]]  # what happened in the world, as lines to print
    world: dict[str, str] = field(default_factory=dict)  # env var -> file the example's tools use
    prepare: Callable[[], None] = lambda: None  # e.g. create the example's CRM (at its env path)
    folder: Path = field(default_factory=Path)

    def config_path(self, system: str) -> Path:
        if system not in self.configs:
            raise UserError(f"--system: {self.name} runs on {', '.join(self.configs)}, not {system!r}")
        return self.folder / self.configs[system]


@dataclass
class ExampleRun:
    conversation_id: str
    status: str
    tickets: list[str]
    messages: list[dict[str, Any]]
    answer: str = ""
    effect: list[str] = field(default_factory=list)


def load(name: str) -> Example:
    package = NAMES.get(name, name.replace("-", "_"))
    try:
        module = importlib.import_module(f"examples.{package}")
    except ModuleNotFoundError as exc:
        if exc.name in ("examples", f"examples.{package}"):
            known = ", ".join(NAMES)
            raise UserError(
                f"no example {name!r} here (known: {known}); examples run from a checkout of the "
                "repository, from its root directory"
            ) from None
        raise
    return module.EXAMPLE


def scripted_or_real(model: str, script: Callable[[], list[Any]]) -> Any:
    """The example's scripted model client (every call replayed), or a real one."""
    from connector.demo import model_client

    if model == "replay":
        from autogen_core.models import ModelInfo
        from autogen_ext.models.replay import ReplayChatCompletionClient

        info = ModelInfo(
            vision=False, function_calling=True, json_output=False, family="unknown", structured_output=False
        )
        return ReplayChatCompletionClient(script(), model_info=info)
    return model_client(model)


# --- where the tickets live ----------------------------------------------------------------------
def _with(text: str, system: str, url: str | None, db: Path) -> str:
    data = yaml.safe_load(text)
    data.setdefault("store", {})["url"] = f"sqlite:///{db}"
    if url is not None:
        key = "instance_url" if data["systems"][system]["type"] == "servicenow" else "url"
        data["systems"][system][key] = url
    return yaml.safe_dump(data, sort_keys=False)


class Human:
    """The example's approver, acting through the system's TicketDriver (as the demo's does); the
    connector then learns the decision as the scheduler would, by polling."""

    def __init__(self, conn: Connector, driver: TicketDriver, label: str, kind: str) -> None:
        self.conn, self.driver, self.label, self.kind = conn, driver, label, kind

    def describe_ticket(self, request: ApprovalRequest) -> str:
        assert request.ticket is not None
        return self.driver.describe(request.ticket)

    async def decide(
        self, request: ApprovalRequest, verdict: Verdict, actor: str, reason: str, edited: dict | None
    ) -> None:
        assert request.ticket is not None
        if verdict is Verdict.APPROVED:
            self.driver.approve(request.ticket, actor, edited)
        else:
            self.driver.reject(request.ticket, actor, reason)
        await self.conn.poll_once()
        await self.conn.process_outbox()

    def ask(self, request: ApprovalRequest, actor: str, text: str) -> None:
        assert request.ticket is not None
        self.driver.comment(request.ticket, actor, text)

    def ticket_comments(self, request: ApprovalRequest) -> str:
        ticket = request.ticket
        assert ticket is not None
        lines = [f"{self.driver.noun} {ticket.key} is now {self.driver.status(ticket)}; comments:"]
        lines += [textwrap.indent(text, "  ") for text in self.driver.comments(ticket)]
        return "\n".join(lines)


@contextmanager
def ticketing(
    example: Example, system: str, folder: Path
) -> Iterator[tuple[Callable[[str], Connector], Callable[[Connector], Human]]]:
    """Connectors on the example's config for ``system`` (a simulator served on loopback for Jira
    and ServiceNow) and the example's approver for that system."""
    path = example.config_path(system)
    text = path.read_text(encoding="utf-8")
    system_name = next(iter(yaml.safe_load(text)["systems"]))
    if system == "local":
        from adapters.local.testing import LocalDeskDriver

        config = parse_config(_with(text, system_name, None, folder / "example.db"), str(path))
        yield (
            (lambda worker: Connector.from_config(config, worker_id=worker)),
            (lambda conn: Human(conn, LocalDeskDriver.of(conn.adapters), "the local desk", "local")),
        )
        return
    if system == "jira":
        from adapters.jira.simulator import JiraSimulator
        from adapters.jira.testing import JiraDriver

        sim: Any = JiraSimulator.seeded_demo("http://127.0.0.1")
        env, driver, noun = sim.demo_env(), JiraDriver(sim), "Jira"
    else:
        from adapters.servicenow.simulator import seeded_demo
        from adapters.servicenow.testing import ServiceNowDriver

        sim = seeded_demo("http://127.0.0.1")
        env, driver, noun = SIM_ENV["servicenow"], ServiceNowDriver(sim), "ServiceNow"
    with sim.serve() as url:
        config = parse_config(_with(text, system_name, url, folder / "example.db"), str(path))
        yield (
            (lambda worker: Connector.from_config(config, env=env, worker_id=worker)),
            (lambda conn: Human(conn, driver, f"a simulated {noun} at {url}", system)),
        )


def ask_on_ticket(human: Human, conn: Connector, request: ApprovalRequest, text: str, actor: str) -> None:
    """A person comments on the ticket (a question for the agent starts with its prefix)."""
    human.ask(request, actor, text)


# --- the story -----------------------------------------------------------------------------------
def _said(messages: Sequence[Any]) -> list[str]:
    """What the team said, and which tools its agents called."""
    lines = []
    for m in messages:
        if isinstance(m, ToolCallRequestEvent):
            lines += [f"[{m.source}] calls {call.name}({call.arguments})" for call in m.content]
        elif isinstance(m, BaseChatMessage):
            lines.append(f"[{m.source}] {m.to_text()}")
    return lines


async def _story(
    example: Example,
    make: Callable[[str], Connector],
    human_for: Any,
    decision: tuple[str, str],
    model: str,
    out: Console,
) -> ExampleRun:
    cid = f"{example.name}-{uuid.uuid4().hex[:8]}"
    steps = itertools.count(1)
    app = make("app")
    try:
        conversation = app.conversation(
            example.factory,
            cid,
            options={"model": model},
            requester=example.requester,
            rationale=example.rationale,
        )
        out.rule(f"{next(steps)}. {example.title}: the team works until it must wait for a human")
        out.print(f"task: {example.task}")
        run = await conversation.run(example.task)
        for line in _said(run.messages):
            out.print(line)
        out.print(f"stop reason: {run.stop_reason}")
        if run.status != "waiting":
            return ExampleRun(cid, run.status, [], [], effect=example.effect())
        request = run.waiting_on[0]
    finally:
        app.close()
    decider = make("decider")  # the process that handles the decision: serve, poll or approve
    try:
        human = human_for(decider)
        assert request.ticket is not None
        tickets = [request.ticket.key]
        out.rule(f"{next(steps)}. Ticket {request.ticket.key} waits on {human.label}")
        out.print(human.describe_ticket(request))
        actor = example.approvers.get(getattr(human, "kind", "local"), "demo-approver")
        kind, value = decision
        answer = ""
        if kind == "ask":
            out.rule(f"{next(steps)}. {actor} asks the agent on the ticket")
            record = decider.store.conversation(cid)
            assert record is not None
            ask_on_ticket(human, decider, request, f"{record.question_prefix} {value}", actor)
            await decider.service.poll_once()
            answer = next((q["answer"] or "" for q in decider.store.questions_of(cid)), "")
            out.print(f"agent's answer, on the ticket: {answer}")
            kind = "approve"
        out.rule(f"{next(steps)}. {actor} decides: {kind}")
        verdict = Verdict.REJECTED if kind == "reject" else Verdict.APPROVED
        edited = None
        if kind == "edit":
            edited = {**request.arguments, **json.loads(value)}
        await human.decide(request, verdict, actor, value if kind == "reject" else "", edited)
        record = decider.store.conversation(cid)
        assert record is not None
        if kind == "reject" and record.awaiting:
            revision = decider.store.get(record.awaiting[0])
            assert revision.ticket is not None
            tickets.append(revision.ticket.key)
            out.rule(
                f"{next(steps)}. The agent revised its proposal: {revision.ticket.key}; {actor} approves it"
            )
            out.print(human.describe_ticket(revision))
            await human.decide(revision, Verdict.APPROVED, actor, "", None)
        out.rule(f"{next(steps)}. The conversation, resumed with the outcome")
        messages = decider.store.messages(cid)
        for message in messages:
            if message["step"] > 1 and message["kind"] in SHOWN:
                out.print(f"[{message['source']}] {message['text']}")
        for key in tickets:
            out.print(human.ticket_comments(decider.store.resolve(key)))
        effect = example.effect()
        out.rule(f"{next(steps)}. What happened")
        for line in effect:
            out.print(line)
        record = decider.store.conversation(cid)
        assert record is not None
        return ExampleRun(cid, record.status, tickets, messages, answer, effect)
    finally:
        decider.close()


def run_example(
    name: str,
    system: str = "local",
    decision: tuple[str, str] = ("approve", ""),
    *,
    model: str = "replay",
    console: Console | None = None,
    folder: Path | None = None,
) -> ExampleRun:
    """Play an example through in this process (``demo --example NAME``). ``decision`` is
    ("approve", ""), ("reject", reason), ("edit", json) or ("ask", question) — a question is
    answered on the ticket, then the request approved. Files (database, mailbox, CRM) go in
    ``folder`` (a temporary directory if None)."""
    example = load(name)
    if decision[0] not in ("approve", "reject", "edit", "ask"):
        raise UserError("decision: approve, reject REASON, edit JSON or ask QUESTION")
    if decision[0] == "edit":
        if system != "local":
            raise UserError("approve-with-edits is a local desk feature; use approve or reject here")
        try:
            if not isinstance(json.loads(decision[1]), dict):
                raise ValueError
        except ValueError:
            raise UserError("--edit: give a JSON object of argument names to new values") from None
    out = console or Console(highlight=False, markup=False, soft_wrap=True)
    with tempfile.TemporaryDirectory() if folder is None else _keep(folder) as where:
        place = Path(where)
        with _world(example, place), ticketing(example, system, place) as (make, human):
            example.prepare()
            return asyncio.run(_story(example, make, human, decision, model, out))


@contextmanager
def _keep(folder: Path) -> Iterator[str]:
    folder.mkdir(parents=True, exist_ok=True)
    yield str(folder)


@contextmanager
def _world(example: Example, folder: Path) -> Iterator[None]:
    """The example's files (mailbox, CRM, provisioning log) in ``folder`` while it runs."""
    saved = {var: os.environ.get(var) for var in example.world}
    os.environ.update({var: str(folder / name) for var, name in example.world.items()})
    try:
        yield
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


# --- an example's own command line -------------------------------------------------------------
USAGE = """\
usage: python -m examples.{pkg} run [--system SYSTEM] [--model M]
           [--approve | --reject REASON | --edit JSON | --ask QUESTION]   (the whole story, here)
       python -m examples.{pkg} start [--config FILE] [--model M]   (begin; the ticket waits)
       python -m examples.{pkg} COMMAND ...   (approval-connector COMMAND on this example's config:
           approve LOCAL-1 --as NAME, reject ..., conversations show ID, poll --once, serve ...)"""


def _option(args: list[str], name: str, default: str | None = None) -> str | None:
    if name in args:
        index = args.index(name)
        if index + 1 >= len(args):
            raise UserError(f"{name} needs a value")
        value = args[index + 1]
        del args[index : index + 2]
        return value
    return default


def main(name: str, argv: list[str] | None = None) -> None:
    """``run`` plays the example through here; ``start`` begins it against its configured system
    (the ticket then waits for a person and any connector process); anything else is handed to
    ``approval-connector`` with the example's config."""
    args = list(sys.argv[1:] if argv is None else argv)
    example = load(name)
    pkg = NAMES[name]
    if not args or args[0] in ("-h", "--help"):
        print(USAGE.format(pkg=pkg))
        return
    command = args.pop(0)
    try:
        first = next(iter(example.configs))
        if command == "run":
            system = _option(args, "--system", first) or first
            model = _option(args, "--model", "replay") or "replay"
            decision = ("approve", "")
            if "--approve" in args:
                args.remove("--approve")
            for flag, kind in (("--reject", "reject"), ("--edit", "edit"), ("--ask", "ask")):
                value = _option(args, flag)
                if value is not None:
                    decision = (kind, value)
            if args:
                raise UserError(f"run: unknown argument {args[0]!r} (see --help)")
            run_example(name, system, decision, model=model)
            return
        config = _option(args, "--config", str(example.config_path(first))) or ""
        if command == "start":
            model = _option(args, "--model", "replay") or "replay"
            asyncio.run(_start(example, config, model))
            return
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    from connector.app.cli import main as cli_main

    cli_main(["--config", config, command, *args])


async def _start(example: Example, config: str, model: str) -> None:
    example.prepare()
    connector = Connector.from_config(config)
    try:
        cid = f"{example.name}-{uuid.uuid4().hex[:8]}"
        conversation = connector.conversation(
            example.factory,
            cid,
            options={"model": model},
            requester=example.requester,
            rationale=example.rationale,
        )
        run = await conversation.run(example.task)
        for line in _said(run.messages):
            print(line)
        print(f"conversation {cid}: {run.status}; {run.stop_reason}")
        for request in run.waiting_on:
            print(f"ticket {request.ticket.key if request.ticket else request.id}")
    finally:
        connector.close()
