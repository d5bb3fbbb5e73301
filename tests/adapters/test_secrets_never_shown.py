"""A server that echoes the request back (its headers, and the OAuth token form) in a 401, a 403
or a 500 answer: no form of any secret shows in the raised error, in a log line, or in the output of
``check-config --live``. Run against the Jira and ServiceNow simulators, plain ``responses``
mocks, and the CLI; both transport paths of the Jira client (python-jira and our own session)."""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
import responses

from adapters.jira.simulator import JiraSimulator
from adapters.servicenow import ServiceNowAdapter, ServiceNowRouteSettings, ServiceNowSystemSettings
from adapters.servicenow.simulator import seeded_demo
from connector.core.adapter import AdapterContext, TicketAdapter
from connector.core.errors import AdapterError
from connector.core.http import RetryPolicy, header
from connector.testing.simulator import SimRequest, SimResponse
from tests.adapters.jira.jira_testlib import build_adapter
from tests.adapters.jira.test_jira_end_to_end import jira_config
from tests.adapters.servicenow.sn_testlib import BASE, ENV, OAUTH_PASSWORD_GRANT, ROUTE, SYSTEM
from tests.adapters.servicenow.test_end_to_end import CONFIG as SN_CONFIG

STATUSES = [401, 403, 500]
FAST = RetryPolicy(attempts=2, base_delay=0.001, max_delay=0.002, max_inline_wait=0.1)


def _b64(text: str) -> set[str]:
    raw = text.encode()
    return {
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
    }


def secret_forms(env: dict[str, str], basic: tuple[str, str] | None) -> set[str]:
    """Each secret as is, URL-encoded and Base64; and the Base64 of basic auth's user:password."""
    forms: set[str] = set()
    for value in env.values():
        forms |= {value, quote(value, safe=""), quote_plus(value)} | _b64(value)
    if basic:
        forms |= _b64(f"{env[basic[0]]}:{env[basic[1]]}")
    return forms


def dump(request: SimRequest) -> str:
    """What a careless proxy or debug page puts in its answer: every header, then the body."""
    lines = [f"{name}: {value}" for name, value in request.headers.items()]
    return "\n".join([f"{request.method} {request.path}", *lines, request.body.decode("utf-8", "replace")])


def jira_echo(request: SimRequest) -> Any:
    auth = header(request.headers, "Authorization")
    return {"errorMessages": [f"your request was:\n{dump(request)}"], "errors": {"Authorization": auth}}


def servicenow_echo(request: SimRequest) -> Any:
    if request.path == "/oauth_token.do":
        return {"error": "invalid_client", "error_description": dump(request)}
    return {"error": {"message": "Echo", "detail": dump(request)}}


def echo(sim: Any, status: int, body: Callable[[SimRequest], Any], path: str = "") -> None:
    """From now on, requests whose path matches ``path`` answer ``status`` with themselves."""
    answer = sim.handle

    def handle(request: SimRequest) -> SimResponse:
        if re.search(path, request.path):
            return SimResponse(status, body(request))
        return answer(request)

    sim.handle = handle  # shadows the method on this instance: in-process and served alike


@dataclass
class System:
    """One adapter set-up: how to build it on a simulator, which calls to make, what to echo."""

    name: str
    env: dict[str, str]
    basic: tuple[str, str] | None
    echo_path: str = ""

    def forms(self) -> set[str]:
        return secret_forms(self.env, self.basic)


JIRA_CLOUD = System("jira-cloud", JiraSimulator.seeded_demo().demo_env(), ("JIRA_EMAIL", "JIRA_API_TOKEN"))
JIRA_DC = System("jira-dc", JiraSimulator.seeded_demo().demo_env(), None)
SN_BASIC = System("sn-basic", ENV, ("SN_USER", "SN_PASSWORD"))
SN_OAUTH_TOKEN = System("sn-oauth-token-endpoint", ENV, None)  # the token form echoed
SN_OAUTH_BEARER = System("sn-oauth-bearer", ENV, None, echo_path="^/api/now/")  # the bearer echoed
SYSTEMS = [JIRA_CLOUD, JIRA_DC, SN_BASIC, SN_OAUTH_TOKEN, SN_OAUTH_BEARER]


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def simulator(system: System, base: str = BASE) -> Any:
    if system is JIRA_CLOUD:
        return JiraSimulator.seeded_demo("https://acme.atlassian.test")
    if system is JIRA_DC:
        return JiraSimulator.seeded_demo("https://jira.dc.example.test", deployment="datacenter")
    return seeded_demo(base)


def adapter_on(system: System, sim: Any) -> TicketAdapter:
    if system.name.startswith("jira"):
        return build_adapter(sim, env=system.env, policy=FAST)
    auth = OAUTH_PASSWORD_GRANT if system.name.startswith("sn-oauth") else SYSTEM["auth"]
    settings = ServiceNowSystemSettings.model_validate({**SYSTEM, "instance_url": sim.base_url, "auth": auth})
    routes = {"change": ServiceNowRouteSettings.model_validate(ROUTE)}
    adapter = ServiceNowAdapter("sn", settings, routes, AdapterContext(env=system.env), sleep=lambda s: None)
    adapter.client.retry = FAST
    return adapter


def calls_of(adapter: Any) -> dict[str, Callable[[], Any]]:
    """One call per transport path of the adapter's client."""
    client = adapter.client
    if adapter.kind == "jira":
        return {
            "python-jira GET": client.myself,
            "transport POST search (retried)": lambda: list(client.search("labels = x", ["status"])),
            "transport POST comment": lambda: client.add_comment("OPS-1", "hello"),
        }
    return {
        "GET list": lambda: client.list("change_request", "active=true", ["sys_id"]),
        "POST create": lambda: client.create("change_request", {"short_description": "x"}, ["sys_id"]),
    }


def assert_no_secret(text: str, system: System) -> None:
    flat = "".join(text.split())  # a table folds long cells over several lines
    leaked = sorted(form for form in system.forms() if form in flat)
    assert not leaked, f"secret forms shown: {leaked}"


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("system", SYSTEMS, ids=lambda s: s.name)
def test_errors_and_logs_from_an_echoing_simulator_hold_no_secret(
    system: System, status: int, mock: responses.RequestsMock, caplog: pytest.LogCaptureFixture
) -> None:
    sim = simulator(system)
    sim.install(mock)
    adapter = adapter_on(system, sim)
    echo(sim, status, jira_echo if adapter.kind == "jira" else servicenow_echo, system.echo_path)
    caplog.set_level(logging.DEBUG)
    for name, call in calls_of(adapter).items():
        with pytest.raises(AdapterError) as raised:
            call()
        text = str(raised.value)
        assert str(status) in text, f"{name}: {text}"
        if "freshly issued OAuth token" not in text:  # that one names no answer text
            assert "***" in text, f"{name}: {text}"  # the echo did reach the error, masked
        assert_no_secret(text, system)
    assert_no_secret(caplog.text, system)


@pytest.mark.parametrize("status", STATUSES)
def test_jira_answers_echoed_by_a_plain_mock_hold_no_secret(
    status: int, mock: responses.RequestsMock, caplog: pytest.LogCaptureFixture
) -> None:
    """A text/plain echo (no JSON envelope), on both paths, plus a 200 HTML page that python-jira
    itself logs: the log record is redacted too."""
    sim = JiraSimulator.seeded_demo("https://acme.atlassian.test")
    adapter: Any = build_adapter(sim, env=JIRA_CLOUD.env, policy=FAST)

    def text_echo(request: Any) -> tuple[int, dict[str, str], str]:
        lines = [f"{k}: {v}" for k, v in request.headers.items()]
        return status, {"Content-Type": "text/plain"}, "\n".join(lines)

    for method in ("GET", "POST"):
        mock.add_callback(
            method, re.compile(r"https://acme\.atlassian\.test/rest/api/2/(myself|issue/.*)"), text_echo
        )
    caplog.set_level(logging.DEBUG)
    for call in (adapter.client.myself, lambda: adapter.client.add_comment("OPS-1", "x")):
        with pytest.raises(AdapterError) as raised:
            call()
        assert "Authorization: ***" in str(raised.value)
        assert_no_secret(str(raised.value), JIRA_CLOUD)

    page = f"<html>debug: Authorization={base64.b64encode(b'jira-bot@example.com:bot-token').decode()}</html>"
    mock.get("https://acme.atlassian.test/rest/api/2/field", body=page, content_type="text/html")
    with pytest.raises(AdapterError, match="not JSON"):
        adapter.client.fields()
    assert "debug" in caplog.text  # python-jira logged the page ...
    assert_no_secret(caplog.text, JIRA_CLOUD)  # ... with the credentials masked


def cli_config(system: System, sim: Any, workdir: Path) -> Path:
    if system.name.startswith("jira"):
        text = jira_config(sim, workdir / "connector.db")
        if system is JIRA_DC:
            text = re.sub(
                r"email_env: JIRA_EMAIL.*\n\s*token_env: JIRA_API_TOKEN\n", "pat_env: JIRA_PAT\n", text
            )
    else:
        text = SN_CONFIG.format(db=workdir / "connector.db", base=sim.base_url, approvers='"change.manager"')
        if system.name.startswith("sn-oauth"):
            text = text.replace(
                "{type: basic, user_env: SN_USER, password_env: SN_PASSWORD}",
                "{" + ", ".join(f"{k}: {v}" for k, v in OAUTH_PASSWORD_GRANT.items()) + "}",
            )
    path = workdir / f"{system.name}.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("system", SYSTEMS, ids=lambda s: s.name)
def test_check_config_live_output_holds_no_secret(
    system: System,
    status: int,
    workdir: Path,
    mock: responses.RequestsMock,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from connector.app.cli import main

    sim = simulator(system)
    sim.install(mock)
    echo(sim, status, servicenow_echo if system.name.startswith("sn") else jira_echo, system.echo_path)
    for name, value in system.env.items():
        monkeypatch.setenv(name, value)
    config = cli_config(system, sim, workdir)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SystemExit) as exited:
        main(["--config", str(config), "check-config", "--live"])
    captured = capsys.readouterr()
    output = captured.out + captured.err
    assert exited.value.code == 1 and str(status) in output
    assert "***" in output or "freshly issued OAuth token" in output  # the echo reached it, masked
    assert_no_secret(output + caplog.text, system)
