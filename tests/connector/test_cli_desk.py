"""Deciding from the command line, run in-process through ``main``: which systems the CLI decides
on, what it prints of model-written text, and what an edit must be to count."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from adapters.local import LocalDeskAdapter
from connector.app.cli import main
from connector.app.runtime import Connector
from connector.demo.tools import send_email
from tests.conftest import EMAIL, LOCAL_CONFIG, sent_mail


def run(capsys, *args: str, stdin: str | None = None, monkeypatch=None) -> tuple[int, str, str]:
    """``approval-connector ARGS`` in this process: (exit code, stdout, stderr)."""
    if stdin is not None:
        import io

        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    captured = capsys.readouterr()
    return exited.value.code, captured.out, captured.err


def submit(config: Path, arguments: dict | None = None) -> str:
    conn = Connector.from_config(config)
    try:
        conn.register_tool(send_email)
        request = asyncio.run(conn.service.submit("send_email", arguments or EMAIL, {"agent": "a"}))
        return request.id
    finally:
        conn.close()


# --- which adapters the CLI decides on: the ones that declare it ---------------------------------
class UndeclaredDesk(LocalDeskAdapter):
    """Has a decide() method, as a third-party adapter might, but does not say humans decide here."""

    kind = "undeclared"
    decides_locally = False


class DeclaredDesk(LocalDeskAdapter):
    kind = "declared"


@pytest.fixture
def plugin_desks(monkeypatch):
    """Both classes installed as third-party adapters (entry points)."""

    class EntryPoint:
        def __init__(self, name, cls):
            self.name, self.cls = name, cls

        def load(self):
            return self.cls

    points = [EntryPoint("undeclared", UndeclaredDesk), EntryPoint("declared", DeclaredDesk)]
    monkeypatch.setattr("connector.core.adapter.entry_points", lambda group: points)


@pytest.mark.parametrize(("kind", "decided"), [("undeclared", False), ("declared", True)])
def test_the_cli_decides_only_on_adapters_that_declare_it(
    workdir, capsys, monkeypatch, plugin_desks, kind, decided
):
    config = workdir / "plugin.yaml"
    config.write_text(
        LOCAL_CONFIG.format(db=workdir / "connector.db").replace("type: local", f"type: {kind}")
    )
    request_id = submit(config)

    code, out, err = run(
        capsys, "-c", str(config), "review", "--as", "alice", stdin="a\n", monkeypatch=monkeypatch
    )
    assert code == 0, err
    assert ("executed" in out) is decided
    if not decided:
        assert "No requests waiting on the local desk" in out
        code, out, err = run(capsys, "-c", str(config), "approve", request_id, "--as", "alice")
        assert code == 2 and "not on the local desk" in err
    assert len(sent_mail(workdir)) == (1 if decided else 0)
