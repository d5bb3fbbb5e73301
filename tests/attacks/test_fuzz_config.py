"""Fuzzing ``check-config``: whatever the file says, the command answers with exit 0 (valid), 1 (a
check failed) or 2 (one clear error line), never a traceback or an uncaught exception.

Inputs are the shipped example configs mutated where a user could go wrong (wrong types, nulls,
negative / huge / NaN numbers, deep nesting, unknown keys, odd strings, deleted keys), plus raw
text. 300 examples per test by default; ``FUZZ_EXAMPLES=5000`` for a long run."""

from __future__ import annotations

import contextlib
import copy
import io
import os
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from connector.app.cli import main
from tests.conftest import REPO

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "300"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
SECRETS = {  # every variable the example configs name, so an unmutated example checks clean
    "JIRA_EMAIL": "bot@example.com",
    "JIRA_API_TOKEN": "token",
    "JIRA_WEBHOOK_SECRET": "hook-secret",
    "SN_USER": "svc_connector",
    "SN_PASSWORD": "password",
    "SN_WEBHOOK_SECRET": "hook-secret",
}
BASES = {
    path.name: yaml.safe_load(path.read_text())
    for path in [*sorted((REPO / "config").glob("*.yaml")), REPO / "connector/app/defaults.yaml"]
}
for _data in BASES.values():
    _data["store"] = {"url": "sqlite://"}  # in memory: fast, and nothing written anywhere
DEEP = "__deeply_nested__"  # replaced by text after dumping: PyYAML cannot dump 5,000 levels itself


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz-config")


def check_config(text: str | bytes, scratch: Path) -> tuple[int, str]:
    """Run ``check-config`` in-process on ``text``; the exit code and everything printed."""
    path = scratch / "fuzzed.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    printed = io.StringIO()
    env = {**SECRETS, "APPROVAL_CONNECTOR_DEMO_MAILBOX": str(scratch / "mail.jsonl")}
    cwd = os.getcwd()
    os.chdir(scratch)  # a relative sqlite URL the fuzzer writes lands here
    try:
        with (
            mock.patch.dict(os.environ, env),
            contextlib.redirect_stdout(printed),
            contextlib.redirect_stderr(printed),
        ):
            os.environ.pop("APPROVAL_CONNECTOR_DB_URL", None)
            try:
                main(["--config", str(path), "check-config"])
            except SystemExit as exc:
                return (exc.code if isinstance(exc.code, int) else 0), printed.getvalue()
    finally:
        os.chdir(cwd)
    raise AssertionError("check-config returned without exiting")


def assert_clean_answer(text: str | bytes, scratch: Path) -> None:
    code, printed = check_config(text, scratch)
    assert code in (0, 1, 2), printed
    assert "Traceback" not in printed, printed
    if code == 2:  # a config error: one line
        assert printed.startswith("error: ") and printed.count("\n") == 1, printed
    if code == 1:  # checks that failed, listed in the table, not an internal error turned into 1
        assert "problem(s) in" in printed and "error: " not in printed, printed


# --- strategies ------------------------------------------------------------------------------

ODD_STRINGS = st.sampled_from(
    [
        "",
        " ",
        "null",
        "0",
        "-1",
        "1e400",
        "nan",
        "inf",
        "-3.2e+275",
        "99999999999999999999999d",
        "0s",
        "-5m",
        "1.5.5s",
        "{{",
        "{{ args.to | attr('__class__') }}",
        "{{ " + "(" * 300 + "1" + ")" * 300 + " }}",
        "(" * 2000,
        "builtins:eval",
        "builtins:print",
        "os:path",
        "os.path:join",
        "collections:OrderedDict",
        "connector.demo.tools:nothing",
        "connector.demo:tools",
        ".relative:thing",
        "a..b:c",
        "sqlite:///fuzz.db",
        "sqlite://",
        "postgresql+psycopg://nobody@256.0.0.1:1/x",
        "mysql://a/b",
        "x://",
        "group:",
        "*",
        "^,\n",
        "\x00\x1b[31m\u202e",
        "é" * 50,
        "a" * 5000,
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([0, -1, -30, 2**64, -(2**63), 10**400]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([-3.2e275, 1e308, -0.0, 1e-9]),
    ODD_STRINGS,
    st.text(max_size=40),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path in the document (mapping keys and list indexes)."""
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found.extend(paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(paths(value, (*prefix, index)))
    return found


def parent_of(doc: Any, path: tuple[Any, ...]) -> Any:
    node = doc
    for part in path[:-1]:
        node = node[part]
    return node


@st.composite
def mutated_documents(draw: st.DrawFn) -> str:
    doc = copy.deepcopy(draw(st.sampled_from(sorted(BASES.items())))[1])
    for _ in range(draw(st.integers(1, 3))):
        candidates = paths(doc)
        path = draw(st.sampled_from(candidates))
        kind = draw(
            st.sampled_from(
                ["replace", "replace", "replace", "delete", "unknown_key", "rename", "deep", "wrap"]
            )
        )
        if not path:  # the document itself
            if kind in ("replace", "deep"):
                doc = draw(VALUES)
            continue
        parent, last = parent_of(doc, path), path[-1]
        if kind == "replace":
            parent[last] = draw(VALUES)
        elif kind == "delete":
            del parent[last]
        elif kind == "unknown_key" and isinstance(parent[last], dict):
            parent[last][draw(st.sampled_from(["bogus", "typo_key", "", "null"]))] = draw(VALUES)
        elif kind == "rename" and isinstance(last, str):
            parent[draw(st.one_of(ODD_STRINGS, st.text(max_size=12)))] = parent.pop(last)
        elif kind == "deep":
            parent[last] = DEEP
        elif kind == "wrap":
            parent[last] = [parent[last]]
    text = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
    depth = draw(st.sampled_from([20, 60, 200, 1000, 5000]))
    flow = draw(st.sampled_from(["[", "{a: "]))
    closing = "]" if flow == "[" else "}"
    return text.replace(DEEP, flow * depth + "1" + closing * depth, 1)


@st.composite
def edited_text(draw: st.DrawFn) -> str:
    """An example file with a few characters inserted, deleted or replaced: broken YAML too."""
    name = draw(st.sampled_from(sorted(BASES)))
    path = REPO / "config" / name if (REPO / "config" / name).exists() else REPO / "connector/app" / name
    text = path.read_text().replace("sqlite:///approval-connector.db", "sqlite://")
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        cut = draw(st.integers(0, 8))
        insert = draw(
            st.one_of(st.text(max_size=6), st.sampled_from(["\n", ": ", "- ", "  ", "{", "[", "&a ", "*a"]))
        )
        text = text[:at] + insert + text[at + cut :]
    return text


def latin1(text: str) -> bytes:
    """The same file saved in another encoding (an editor's choice, not a user's mistake)."""
    return text.encode("latin-1", "replace")


# --- the fuzzers -----------------------------------------------------------------------------


# What the fuzzers found, kept as fixed examples (each ended in a traceback or a broken line before).
FOUND_BY_FUZZING = [
    "systems:\n  desk: " + "[" * 5000 + "]" * 5000 + "\n",  # RecursionError in PyYAML's composer
    "scheduler:\n  recovery_interval: -3.2e+275\n",  # OverflowError building the timedelta
    'routes:\n  - {name: r, tools: [t], system: desk, approvers: ["*"], "\\n\\x05": 1}\n',  # two lines
]


@FUZZ
@given(text=mutated_documents())
@example(text=FOUND_BY_FUZZING[0])
@example(text=FOUND_BY_FUZZING[1])
@example(text=FOUND_BY_FUZZING[2])
def test_mutated_example_configs_never_end_in_a_traceback(text, scratch):
    assert_clean_answer(text, scratch)


@FUZZ
@given(
    text=st.one_of(edited_text(), edited_text().map(latin1), st.text(max_size=200), st.binary(max_size=200))
)
@example(text=b"\x80")  # UnicodeDecodeError reading a file that is not UTF-8
def test_raw_text_never_ends_in_a_traceback(text, scratch):
    assert_clean_answer(text, scratch)


def test_every_unmutated_base_checks_clean(scratch):
    """The fuzzer starts from valid files: otherwise every mutation would only hit one error."""
    for name, data in BASES.items():
        code, printed = check_config(yaml.safe_dump(data, sort_keys=False), scratch)
        assert code == 0, (name, printed)
