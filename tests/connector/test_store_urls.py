"""Where the store is: a relative SQLite path follows the config file, not the directory a
command is run from; a PostgreSQL URL without its driver installed is one line naming the extra,
the URL (password masked) and where the URL came from."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from connector.app.cli import main
from connector.app.config import load_config
from connector.core.settings import sqlite_relative_to
from tests.conftest import REPO
from tests.connector.test_cli import cli


def test_a_relative_sqlite_path_is_beside_the_config_file_whatever_the_working_directory(workdir):
    (workdir / "etc").mkdir()
    (workdir / "elsewhere").mkdir()
    config = workdir / "etc" / "c.yaml"
    config.write_text("store: {url: 'sqlite:///state/connector.db'}\n")
    (workdir / "etc" / "state").mkdir()
    first = cli("-c", str(config), "poll", "--once", cwd=workdir / "elsewhere")
    assert first.returncode == 0, first.stderr
    assert (workdir / "etc" / "state" / "connector.db").exists()
    assert not (workdir / "elsewhere" / "state").exists()
    again = cli("-c", "etc/c.yaml", "requests", "list", cwd=workdir)  # same file from another directory
    assert again.returncode == 0, again.stderr
    assert not (workdir / "state").exists()


def test_only_relative_sqlite_paths_are_anchored(tmp_path):
    folder = tmp_path / "etc"
    assert sqlite_relative_to("sqlite:///x.db", folder) == f"sqlite:///{folder / 'x.db'}"
    assert sqlite_relative_to("sqlite+pysqlite:///a/x.db?timeout=5", folder).endswith(
        f"{folder / 'a' / 'x.db'}?timeout=5"
    )
    for unchanged in (
        "sqlite:////var/lib/acr/x.db",
        "sqlite://",
        "sqlite:///:memory:",
        "postgresql+psycopg://u@h/d",
        "sqlite:///file:x.db?uri=true",
    ):
        assert sqlite_relative_to(unchanged, folder) == unchanged


def test_the_db_url_variable_is_relative_to_the_working_directory(workdir, monkeypatch):
    (workdir / "etc").mkdir()
    (workdir / "etc" / "c.yaml").write_text("store: {url: 'sqlite:///x.db'}\n")
    monkeypatch.setenv("APPROVAL_CONNECTOR_DB_URL", "sqlite:///y.db")
    assert load_config(workdir / "etc" / "c.yaml").store.url == "sqlite:///y.db"


NO_PSYCOPG = """
import sys
sys.modules["psycopg"] = None  # as on a machine without the [postgres] extra
sys.modules["psycopg2"] = None
from connector.app.cli import main
main(sys.argv[1:])
"""


def run_without_psycopg(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith("APPROVAL_CONNECTOR_")}
    full.update({"PYTHONPATH": str(REPO), **(env or {})})
    return subprocess.run(
        [sys.executable, "-c", NO_PSYCOPG, *args],
        cwd=cwd,
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_postgres_without_the_extra_is_one_line_naming_the_extra_url_and_origin(workdir):
    (workdir / "c.yaml").write_text(
        "scheduler: {lease: 5m}\nstore:\n  url: postgresql+psycopg://app:s3cret@db.example/acr\n"
    )
    done = run_without_psycopg("-c", "c.yaml", "check-config", cwd=workdir)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == (
        "error: store.url (c.yaml:3): postgresql+psycopg://app:***@db.example/acr needs the [postgres] "
        "extra: pip install 'approval-connector[postgres]'"
    )
    assert "s3cret" not in done.stderr


def test_postgres_url_from_the_variable_names_the_variable(workdir):
    (workdir / "c.yaml").write_text("{}\n")
    env = {"APPROVAL_CONNECTOR_DB_URL": "postgresql://app@db.example/acr"}
    done = run_without_psycopg("-c", "c.yaml", "poll", "--once", cwd=workdir, env=env)
    assert done.returncode == 2
    assert done.stderr.strip().startswith(
        "error: $APPROVAL_CONNECTOR_DB_URL: postgresql+psycopg://app@db.example/acr needs the [postgres]"
    )


@pytest.mark.parametrize(
    "url",
    [
        "postgres+psycopg://app:s3cret@db.example/acr",
        "app:s3cret db.example",
        "postgresql://app:s3cret@db.example:abc/acr",  # a port that is not a number: was a traceback
    ],
)
def test_a_bad_store_url_never_shows_its_password(workdir, capsys, url):
    (workdir / "c.yaml").write_text(f"store:\n  url: '{url}'\n")
    with pytest.raises(SystemExit) as exited:
        main(["-c", "c.yaml", "check-config"])
    shown = capsys.readouterr().err
    assert exited.value.code == 2 and shown.startswith("error: store.url (c.yaml:2): cannot use ")
    assert "s3cret" not in shown
