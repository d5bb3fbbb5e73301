"""Every bad value in a config file gets one line naming the file, the line and the key path, and
saying what is allowed: durations in range, bounded nesting, no null where a value is needed,
tools that are the user's functions. Table-driven: each row is a file and its exact error."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from connector.app.runtime import Connector
from connector.core.errors import ConfigError

ENV = {"JIRA_EMAIL": "bot@example.com", "JIRA_API_TOKEN": "t", "SN_USER": "u", "SN_PASSWORD": "p"}
STORE = "store: {url: 'sqlite://'}\n"  # line 1 of every file below
DESK_ROUTE = "routes:\n  - {name: r, tools: [send_email], system: desk, approvers: ['*']}\n"
JIRA = """\
systems:
  jira:
    type: jira
    url: https://example.atlassian.net
    auth: {email_env: JIRA_EMAIL, token_env: JIRA_API_TOKEN}
"""
SERVICENOW = """\
systems:
  sn:
    type: servicenow
    instance_url: https://example.service-now.com
    auth: {type: basic, user_env: SN_USER, password_env: SN_PASSWORD}
    service_account: {user_name: svc_connector}
routes:
  - name: change
    tools: [apply_change]
    system: sn
    approvers: ["*"]
"""
LAUGHS = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10)
)


def error_of(text: str, tmp_path: Path) -> str:
    """The one-line error of loading ``text`` and importing its tools, with the file as c.yaml."""
    path = tmp_path / "c.yaml"
    path.write_text(STORE + textwrap.dedent(text))
    with pytest.raises(ConfigError) as caught:
        connector = Connector.from_config(path, env=ENV)
        try:
            for name in connector.registry.names():
                connector.registry.require(name)
        finally:
            connector.close()
    message = str(caught.value).replace(str(path), "c.yaml")
    assert "\n" not in message
    return message


DURATIONS = [
    ("scheduler:\n  lease: 0\n", "c.yaml:3: scheduler.lease: must be between 1s and 1d (got 0)"),
    ("scheduler:\n  lease: 0.5s\n", "c.yaml:3: scheduler.lease: must be between 1s and 1d (got '0.5s')"),
    ("scheduler:\n  lease: 2d\n", "c.yaml:3: scheduler.lease: must be between 1s and 1d (got '2d')"),
    (
        "scheduler:\n  delivery_retention: -1\n",
        "c.yaml:3: scheduler.delivery_retention: must be between 1h and 365d (got -1)",
    ),
    (
        "scheduler:\n  poll_interval: -30\n",
        "c.yaml:3: scheduler.poll_interval: must be between 100ms and 1d (got -30)",
    ),
    (
        "scheduler:\n  poll_interval: -3.2e+275\n",
        "c.yaml:3: scheduler.poll_interval: must be between 100ms and 1d (got -3.2e+275)",
    ),
    (
        "scheduler:\n  outbox_interval: 0\n",
        "c.yaml:3: scheduler.outbox_interval: must be between 100ms and 1d (got 0)",
    ),
    (
        "scheduler:\n  expiry_interval: .nan\n",
        "c.yaml:3: scheduler.expiry_interval: must be between 100ms and 1d (got nan)",
    ),
    (
        "scheduler:\n  recovery_interval: .inf\n",
        "c.yaml:3: scheduler.recovery_interval: must be between 100ms and 1d (got inf)",
    ),
    (
        "scheduler:\n  lease: 99999999999999999999999d\n",
        "c.yaml:3: scheduler.lease: must be between 1s and 1d (got '99999999999999999999999d')",
    ),
    (
        "scheduler:\n  lease: 1" + "0" * 400 + "\n",
        "c.yaml:3: scheduler.lease: must be between 1s and 1d (got 1000000000000000000000000000000000000...)",
    ),
    (
        "scheduler:\n  poll_interval: 1e400\n",  # YAML reads this as a string
        "c.yaml:3: scheduler.poll_interval: '1e400' is not a duration (use e.g. 30s, 15m, 24h, 7d)",
    ),
    (
        "scheduler:\n  lease: nan\n",
        "c.yaml:3: scheduler.lease: 'nan' is not a duration (use e.g. 30s, 15m, 24h, 7d)",
    ),
    (
        "scheduler:\n  lease: null\n",
        "c.yaml:3: scheduler.lease: expected a duration (use e.g. 30s, 15m, 24h, 7d), got null",
    ),
    (
        "scheduler:\n  lease: true\n",
        "c.yaml:3: scheduler.lease: expected a duration (use e.g. 30s, 15m, 24h, 7d)",
    ),
    (
        "server:\n  shutdown_grace: 0\n",
        "c.yaml:3: server.shutdown_grace: must be between 100ms and 1h (got 0)",
    ),
    (
        "routes:\n  - {name: r, tools: [send_email], system: desk, approvers: ['*'], deadline: -1}\n",
        "c.yaml:3: routes[0].deadline: must be between 1m and 365d (got -1)",
    ),
    (
        JIRA + "    timeouts: {read: .inf}\n",
        "c.yaml:3: systems.jira.timeouts.read: must be between 10ms and 10m (got inf)",
    ),
    (
        JIRA + "    timeouts: {connect: 0}\n",
        "c.yaml:3: systems.jira.timeouts.connect: must be between 10ms and 5m (got 0)",
    ),
    (
        JIRA + "    retry: {base_delay: .nan}\n",
        "c.yaml:3: systems.jira.retry.base_delay: must be between 0s and 1m (got nan)",
    ),
    (
        JIRA + "    retry: {attempts: 1000000}\n",
        "c.yaml:3: systems.jira.retry.attempts: Input should be less than or equal to 20",
    ),
    (
        SERVICENOW.replace(
            "    service_account:", "    webhook: {secret_env: S, max_age_seconds: -1}\n    service_account:"
        ),
        "c.yaml:3: systems.sn.webhook.max_age_seconds: must be between 0s and 1d (got -1)",
    ),
    (
        SERVICENOW.replace("    service_account:", "    poll_overlap_seconds: 1e999\n    service_account:"),
        "c.yaml:3: systems.sn.poll_overlap_seconds: '1e999' is not a duration (use e.g. 30s, 15m, 24h, 7d)",
    ),
]

NESTING = [
    ("systems:\n  desk: " + "[" * 5000 + "]" * 5000 + "\n", "c.yaml:3: nested deeper than 50 levels"),
    (
        "systems:\n  desk: " + "{a: " * 5000 + "1" + "}" * 5000 + "\n",
        "c.yaml:3: nested deeper than 50 levels",
    ),
    ("x:\n" + "".join("  " * i + "k:\n" for i in range(1, 100)), "c.yaml:52: nested deeper than 50 levels"),
    (LAUGHS, "c.yaml: the aliases expand to more than 100000 values"),
    (
        "a: &a [[[[[[[[[[1]]]]]]]]]]\n"
        + "".join(
            f"a{i}: &a{i} [[[[[[[[[[*{'a' if i == 1 else f'a{i - 1}'}]]]]]]]]]]\n" for i in range(1, 6)
        ),
        "c.yaml:7: nested deeper than 50 levels once aliases are expanded",
    ),
    ("a: &a [*a]\n", "c.yaml:2: an alias refers to a value that contains it"),
]

NULLS = [
    ("scheduler: null\n", "c.yaml:2: scheduler: expected a mapping of keys, got null"),
    ("systems:\n  desk: null\n", "c.yaml:3: systems.desk: expected a mapping of keys, got null"),
    (
        "systems:\n  desk: {type: null}\n",
        "c.yaml:3: systems.desk.type: Input should be a valid string, got null",
    ),
    (
        "routes:\n  - {name: r, tools: [null], system: desk, approvers: ['*']}\n",
        "c.yaml:3: routes[0].tools[0]: Input should be a valid string, got null",
    ),
    (
        SERVICENOW + "    outcome: {transitions: {failed: {path: null}}}\n",
        "c.yaml:9: routes[0].outcome.transitions.failed.path: Input should be a valid list, got null",
    ),
    (
        SERVICENOW + "    outcome: {transitions: {failed: {path: [-1, null]}}}\n",
        "c.yaml:9: routes[0].outcome.transitions.failed.path[1]: Input should be a valid string, got null",
    ),
    (  # a bare string was split into one state per character
        SERVICENOW + "    outcome: {transitions: {failed: {path: '-1'}}}\n",
        "c.yaml:9: routes[0].outcome.transitions.failed.path: Input should be a valid list",
    ),
    (
        SERVICENOW + "    outcome: {transitions: {failed: null}}\n",
        "c.yaml:9: routes[0].outcome.transitions.failed: expected a mapping of keys, got null",
    ),
    (
        SERVICENOW + "    decision: {approved_values: null}\n",
        "c.yaml:9: routes[0].decision.approved_values: Input should be a valid list, got null",
    ),
    (
        SERVICENOW.replace("service_account: {user_name: svc_connector}", "service_account: null"),
        "c.yaml:3: systems.sn.service_account: expected a mapping of keys, got null",
    ),
    (
        JIRA.replace("auth: {email_env: JIRA_EMAIL, token_env: JIRA_API_TOKEN}", "auth: null"),
        "c.yaml:3: systems.jira.auth: expected a mapping of keys, got null",
    ),
    (
        JIRA + DESK_ROUTE.replace("desk", "jira").replace("}", ", ticket: {project: null}}"),
        "c.yaml:8: routes[0].ticket.project: Input should be a valid string, got null",
    ),
    (
        JIRA
        + DESK_ROUTE.replace("desk", "jira").replace("}", ", outcome: {on_success: {transition: null}}}"),
        "c.yaml:8: routes[0].outcome.on_success.transition: Input should be a valid string, got null",
    ),
    (
        DESK_ROUTE.replace("}", ", ticket: {summary: null}}"),
        "c.yaml:3: routes[0].ticket.summary: Input should be a valid string, got null",
    ),
    ("tools:\n  send_email: null\n", "c.yaml:3: tools.send_email: expected a mapping of keys, got null"),
    (
        DESK_ROUTE.replace("}", ", when: [{arg: to, op: endswith, value: null}]}"),
        "c.yaml:3: routes[0].when[0].value: op 'endswith' needs a value, got null",
    ),
    (
        DESK_ROUTE.replace("}", ", when: [{arg: to, op: matches}]}"),
        "c.yaml:3: routes[0].when[0].value: op 'matches' needs a value, got null",
    ),
]

NOT_A_TOOL = ", not a function or a tool"
TOOLS = [
    (
        "tools:\n  x: {import: 'builtins:eval'}\n",
        "c.yaml:3: tools.x.import: 'builtins:eval' resolves to the builtin eval" + NOT_A_TOOL,
    ),
    (
        "tools:\n  x: {import: 'collections:OrderedDict'}\n",
        "c.yaml:3: tools.x.import: 'collections:OrderedDict' resolves to the class OrderedDict" + NOT_A_TOOL,
    ),
    (
        "tools:\n  x: {import: 'autogen_core.tools:FunctionTool'}\n",
        "c.yaml:3: tools.x.import: 'autogen_core.tools:FunctionTool' resolves to the class FunctionTool"
        + NOT_A_TOOL,
    ),
    (
        "tools:\n  x: {import: 'connector.demo:tools'}\n",
        "c.yaml:3: tools.x.import: 'connector.demo:tools' resolves to the module connector.demo.tools"
        + NOT_A_TOOL,
    ),
    (
        "tools:\n  x: {import: 'connector.demo.tools:MAILBOX_ENV'}\n",
        "c.yaml:3: tools.x.import: 'connector.demo.tools:MAILBOX_ENV' resolves to a str object" + NOT_A_TOOL,
    ),
    (
        "tools:\n  upper: {import: 'builtins:str.upper'}\n",
        "c.yaml:3: tools.upper.import: 'builtins:str.upper' resolves to the builtin str.upper" + NOT_A_TOOL,
    ),
    (
        "tools:\n  join: {import: 'os.path:join'}\n",
        "c.yaml:3: tools.join.import: 'os.path:join' resolves to join of the standard library, not a tool",
    ),
    (
        "tools:\n  untyped: {import: 'fuzz_user_tools:untyped'}\n",
        "c.yaml:3: tools.untyped.import: 'fuzz_user_tools:untyped': parameter 'to' has no type annotation",
    ),
    (
        "tools:\n  starred: {import: 'fuzz_user_tools:starred'}\n",
        "c.yaml:3: tools.starred.import: 'fuzz_user_tools:starred': a tool cannot take *names (its schema "
        "names each argument)",
    ),
    (
        "tools:\n  x: {import: 'fuzz_broken_module:f'}\n",
        "c.yaml:3: tools.x.import: importing 'fuzz_broken_module' failed: RuntimeError('broken at import')",
    ),
    (
        "tools:\n  x: {import: '.relative:thing'}\n",
        "c.yaml:3: tools.x.import: '.relative:thing' is not an import path like 'myapp.tools:send_email'",
    ),
    (
        "tools:\n  x: {import: 'a..b:c'}\n",
        "c.yaml:3: tools.x.import: 'a..b:c' is not an import path like 'myapp.tools:send_email'",
    ),
]

WHERE = [
    (
        "routes:\n  - {name: r, tools: [send_email], system: nope, approvers: ['*']}\n",
        "c.yaml:3: routes[0].system: unknown system 'nope' (configured: desk)",
    ),
    (
        "systems:\n  z:\n    type: zendesk\n",
        "c.yaml:4: systems.z.type: unknown system type 'zendesk' (built in: local, jira, servicenow)",
    ),
    (
        DESK_ROUTE + "  - {name: r, tools: [send_email], system: desk, approvers: ['*']}\n",
        "c.yaml:4: routes[1].name: route names must be unique: r is also routes[0]",
    ),
    ('scheduler:\n  "\\e[8mhidden": 1\n', "c.yaml:3: scheduler['\\x1b[8mhidden']: unknown key"),
    ("scheduler:\n  '': 1\n", "c.yaml:3: scheduler['']: unknown key"),
    (
        "scheduler:\n  lease: \x1b[8m\n",
        "c.yaml:3: invalid YAML: unacceptable character #x001b: special characters are not allowed",
    ),
    (
        DESK_ROUTE.replace("}", ", ticket: {summary: '{{ " + "(" * 300 + "1" + ")" * 300 + " }}'}}"),
        "c.yaml:3: routes[0].ticket.summary: invalid template: nested too deeply",
    ),
    (
        DESK_ROUTE.replace("}", ", when: [{arg: to, op: matches, value: '" + "(" * 3000 + "'}]}"),
        "c.yaml:3: routes[0].when[0]: regular expression nested too deeply",
    ),
    (
        SERVICENOW + "    ticket: {fields: {short_description: '{{ oops'}}\n",
        "c.yaml:9: routes[0].ticket.fields: short_description: invalid template: unexpected end of template, "
        "expected 'end of print statement'.",
    ),
]


MCP = [
    (
        "mcp_servers:\n  l: {}\n",
        "c.yaml:3: mcp_servers.l: give either command (a server started over stdio) or url (streamable HTTP)",
    ),
    (
        "mcp_servers:\n  l: {command: a, url: 'http://x/mcp'}\n",
        "c.yaml:3: mcp_servers.l: give either command (a server started over stdio) or url (streamable HTTP)",
    ),
    (
        "mcp_servers:\n  l: {url: 'ftp://x/mcp'}\n",
        "c.yaml:3: mcp_servers.l.url: 'ftp://x/mcp' is not an http:// or https:// URL",
    ),
    (
        "mcp_servers:\n  l: {url: 'http://x/mcp', env: {A: B}}\n",
        "c.yaml:3: mcp_servers.l.env: only for a server started by command",
    ),
    (
        "mcp_servers:\n  l: {command: a, headers: {A: B}}\n",
        "c.yaml:3: mcp_servers.l.headers: only for a server reached by url",
    ),
    (
        "mcp_servers:\n  l: {command: a, connect_timeout: 0}\n",
        "c.yaml:3: mcp_servers.l.connect_timeout: must be between 1s and 10m (got 0)",
    ),
    (
        "mcp_servers:\n  l: {command: a, call_timeout: 2d}\n",
        "c.yaml:3: mcp_servers.l.call_timeout: must be between 1s and 1d (got '2d')",
    ),
    (
        "mcp_servers:\n  l: {command: a, proxy: {dedupe_window: 0}}\n",
        "c.yaml:3: mcp_servers.l.proxy.dedupe_window: must be between 1m and 30d (got 0)",
    ),
    (  # secrets only by variable name
        "mcp_servers:\n  l: {command: a, env: {'1X': B}}\n",
        "c.yaml:3: mcp_servers.l.env.1X: '1X' is not an environment variable name (letters, digits and _)",
    ),
    (
        "mcp_servers:\n  l: {command: a, proxy: {tokens: {alice: 'hunter2 token'}}}\n",
        "c.yaml:3: mcp_servers.l.proxy.tokens.alice: 'hunter2 token' is not an environment variable name "
        "(letters, digits and _)",
    ),
    (
        "mcp_servers:\n  l: {command: a, args: [" + ", ".join(["x"] * 101) + "]}\n",
        "c.yaml:3: mcp_servers.l.args: List should have at most 100 items after validation, not 101",
    ),
    (
        "mcp_servers:\n  'l/x': {command: a}\n",
        "c.yaml:3: mcp_servers.l/x: an MCP server's name is 1 to 100 letters, digits, '_', '.' or '-' "
        "(no '/')",
    ),
    ("mcp_servers:\n  l: null\n", "c.yaml:3: mcp_servers.l: expected a mapping of keys, got null"),
    (
        "routes:\n  - {name: r, tools: [nope/t], system: desk, approvers: ['*']}\n",
        "c.yaml:3: routes[0].tools[0]: 'nope/t': no MCP server 'nope' in mcp_servers (declared: none)",
    ),
    (
        "mcp_servers:\n  l: {command: a}\n" + DESK_ROUTE.replace("send_email", "'l/a*'"),
        "c.yaml:5: routes[0].tools[0]: 'l/a*': an MCP tool is SERVER/TOOL, or SERVER/* for all of a "
        "server's tools",
    ),
]


@pytest.fixture(autouse=True)
def user_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Modules of 'the user's' that cannot be tools: an unannotated parameter, *args, a failing import."""
    folder = tmp_path / "user_modules"
    folder.mkdir()
    (folder / "fuzz_user_tools.py").write_text(
        "def untyped(to):\n    return to\n\n\ndef starred(*names: str) -> str:\n    return ''\n"
    )
    (folder / "fuzz_broken_module.py").write_text("raise RuntimeError('broken at import')\n")
    monkeypatch.syspath_prepend(str(folder))


@pytest.mark.parametrize(("text", "message"), DURATIONS + NESTING + NULLS + TOOLS + WHERE + MCP)
def test_bad_value_gets_one_line_naming_file_line_and_key(text, message, tmp_path):
    assert error_of(text, tmp_path) == message


def test_durations_at_their_bounds_are_accepted(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        STORE
        + "scheduler: {lease: 1s, poll_interval: 100ms, delivery_retention: 365d, outbox_interval: 1d}\n"
        "server: {shutdown_grace: 1h}\n" + DESK_ROUTE.replace("}", ", deadline: 1m}")
    )
    connector = Connector.from_config(path, env=ENV)
    try:
        assert connector.config.scheduler.lease.total_seconds() == 1
        assert connector.config.scheduler.poll_interval.total_seconds() == 0.1
        assert connector.config.routes[0].deadline.total_seconds() == 60
    finally:
        connector.close()


def test_a_users_own_function_or_tool_object_still_imports(tmp_path):
    (tmp_path / "user_modules" / "fuzz_good_tools.py").write_text(
        "from autogen_core.tools import FunctionTool\n\n\n"
        "async def notify(to: str, text: str) -> str:\n    return to\n\n\n"
        "page = FunctionTool(notify, description='Page someone.', name='page')\n"
    )
    path = tmp_path / "c.yaml"
    tools = "tools:\n  notify: {import: 'fuzz_good_tools:notify'}\n  page: {import: 'fuzz_good_tools:page'}\n"
    path.write_text(STORE + tools)
    connector = Connector.from_config(path, env=ENV)
    try:
        connector.registry.require("notify")  # raises ConfigError if the import is refused
        connector.registry.require("page")
    finally:
        connector.close()


def test_a_file_not_in_utf8_is_one_line_not_a_traceback(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_bytes(STORE.encode() + "systems:\n  desk: {type: local, key_prefix: CAFÉ}\n".encode("latin-1"))
    with pytest.raises(ConfigError) as caught:
        Connector.from_config(path, env=ENV)
    assert str(caught.value) == f"{path}:3: not UTF-8 text (byte 0xc9); save the file as UTF-8"
