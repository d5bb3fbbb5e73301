"""Schema migrations: every revision from nothing builds exactly today's schema, and a database
made by the previous release (0.1.0, run as that release's own code in its own process) upgrades
with nothing lost: its requests still decide and run, its audit trail still verifies."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, create_engine, text

from adapters.local.adapter import _meta as desk_metadata
from connector.app.config import parse_config
from connector.app.runtime import Connector
from connector.core.models import RequestState, Verdict
from connector.core.store import metadata, migrations
from tests.conftest import LOCAL_CONFIG, REPO, sent_mail
from tests.connector.test_store import pg_store_url, store_url  # noqa: F401 - fixtures

PREVIOUS = "011512b"  # 0.1.0


def differences(engine) -> list:
    combined = MetaData()
    for source in (metadata, desk_metadata):
        for table in source.tables.values():
            table.to_metadata(combined)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), combined)
    return [
        d
        for d in diff
        if not (isinstance(d, tuple) and d[0] == "remove_table" and d[1].name == "alembic_version")
    ]


def test_every_revision_from_nothing_builds_todays_schema(store_url):  # noqa: F811
    engine = create_engine(store_url)
    before, after = migrations.upgrade(engine, metadata, build_empty=False)
    assert before is None and after == migrations.head()
    assert differences(engine) == []


def test_an_empty_database_is_built_at_once_and_stamped(store_url):  # noqa: F811
    engine = create_engine(store_url)
    migrations.upgrade(engine, metadata)
    desk_metadata.create_all(engine)
    assert migrations.current(engine) == migrations.head()
    assert differences(engine) == []


OLD_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, sys
    sys.path.insert(0, sys.argv[1])
    from connector.config import parse_config
    from connector.runtime import Connector
    from connector.models import Verdict
    config = parse_config(open(sys.argv[2]).read(), sys.argv[2])
    conn = Connector.from_config(config)
    async def main():
        from connector.demo_tools import send_email
        conn.register_tool(send_email)
        ids = []
        for n in range(3):
            args = {"to": "jane@example.com", "subject": f"s{n}", "body": "b"}
            r = await conn.service.submit("send_email", args, {"agent": "old"})
            ids.append(r.id)
        desk = conn.adapters["desk"]
        desk.decide(conn.store.get(ids[0]).ticket.key, Verdict.APPROVED, "alice")   # ran under 0.1.0
        desk.decide(conn.store.get(ids[1]).ticket.key, Verdict.REJECTED, "alice", "no")
        await conn.service.refresh(ids[0]); await conn.service.refresh(ids[1]); await conn.process_outbox()
        print(json.dumps(ids))
    asyncio.run(main())
    """
)


@pytest.fixture
def previous_release(tmp_path) -> Path:
    if not (REPO / ".git").exists():
        pytest.skip("needs the git history to check out the previous release")
    folder = tmp_path / "previous"
    folder.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", PREVIOUS, "connector", "adapters"],
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        pytest.skip(f"the previous release {PREVIOUS} is not in this checkout's history")
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder


def run_previous(previous: Path, config: Path, workdir: Path) -> list[str]:
    env = {**os.environ, "APPROVAL_CONNECTOR_DEMO_MAILBOX": str(workdir / "mailbox.jsonl")}
    done = subprocess.run(
        [sys.executable, "-c", OLD_SCRIPT, str(previous), str(config)],
        capture_output=True,
        text=True,
        cwd=workdir,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    import json

    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_database_of_the_previous_release_upgrades(previous_release, workdir, backend, request):
    url = f"sqlite:///{workdir / 'old.db'}"
    if backend == "postgres":
        url = request.getfixturevalue("pg_store_url")
    old_config = workdir / "old.yaml"
    old_config.write_text(
        LOCAL_CONFIG.format(db="x")
        .replace("sqlite:///x", url)
        .replace("connector.demo.tools", "connector.demo_tools")
    )
    ran, rejected, waiting = run_previous(previous_release, old_config, workdir)
    assert len(sent_mail(workdir)) == 1

    engine = create_engine(url)
    with engine.connect() as conn:
        assert "alembic_version" not in conn.dialect.get_table_names(conn)
    connector = Connector.from_config(parse_config(LOCAL_CONFIG.format(db="x").replace("sqlite:///x", url)))
    try:
        assert migrations.current(connector.store.engine) == migrations.head()
        assert connector.store.get(ran).state is RequestState.SUCCEEDED
        assert connector.store.get(rejected).state is RequestState.REJECTED
        old = connector.store.get(waiting)
        assert old.state is RequestState.TICKETED and old.seal not in ("", "legacy")  # sealed at start
        import asyncio

        assert asyncio.run(connector.service.verify_audit()) == []
        from connector.demo.tools import send_email

        connector.register_tool(send_email)
        connector.adapters["desk"].decide(old.ticket.key, Verdict.APPROVED, "alice")
        after = asyncio.run(connector.service.refresh(waiting))
        assert after.state is RequestState.SUCCEEDED  # decided and run after the upgrade
        assert len(sent_mail(workdir)) == 2
        assert asyncio.run(connector.service.verify_audit()) == []
    finally:
        connector.close()
        engine.dispose()


def test_an_old_trail_that_does_not_verify_is_not_migrated(previous_release, workdir):
    url = f"sqlite:///{workdir / 'old.db'}"
    old_config = workdir / "old.yaml"
    old_config.write_text(
        LOCAL_CONFIG.format(db="x")
        .replace("sqlite:///x", url)
        .replace("connector.demo.tools", "connector.demo_tools")
    )
    run_previous(previous_release, old_config, workdir)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE event = 'decided'"))
    from connector.core.errors import ConfigError

    with pytest.raises(ConfigError, match="audit trail does not verify"):
        Connector.from_config(parse_config(LOCAL_CONFIG.format(db="x").replace("sqlite:///x", url)))
    with engine.connect() as conn:
        assert "alembic_version" not in conn.dialect.get_table_names(conn)  # nothing half-done


def test_a_database_at_0005_gains_the_votes_table_with_its_requests_kept(store_url):  # noqa: F811
    """0006 adds the votes of quorum routes: a database stopped at 0005 (requests waiting in it)
    upgrades, keeps every request, and records and reads votes afterwards."""
    from connector.core.store import Store
    from tests.connector.test_store import make_request

    engine = create_engine(store_url)
    before, after = migrations.upgrade(engine, metadata, "0005", build_empty=False)
    assert after == "0005"
    with engine.connect() as conn:
        assert "votes" not in conn.dialect.get_table_names(conn)
    waiting = make_request(RequestState.TICKETED)
    columns = {c.name for c in metadata.tables["approval_requests"].columns}
    from connector.core.store import _to_row

    row = {k: v for k, v in _to_row(waiting).items() if k in columns}
    with engine.begin() as conn:
        conn.execute(metadata.tables["approval_requests"].insert().values(**row))
    assert migrations.upgrade(engine, metadata) == ("0005", migrations.head())
    assert differences(engine) == []
    store = Store(engine)
    assert store.get(waiting.id).state is RequestState.TICKETED
    with store.transaction() as conn:
        vote = dict(vote_id="v1", voter="alice", voter_name="Alice", verdict="approved", counted=True)
        assert store.record_vote(conn, waiting.id, "k" * 64, reason=None, groups=[], voted_at=None, **vote)
        assert not store.record_vote(
            conn, waiting.id, "k" * 64, reason=None, groups=[], voted_at=None, **vote
        )
    [stored] = store.votes(waiting.id)
    assert stored["voter"] == "alice" and stored["counted"] is True
    engine.dispose()
