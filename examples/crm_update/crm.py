"""The example's small CRM: a SQLite file (``EXAMPLE_CRM_DB``, default ./example-crm.db) with
opportunities and an activity log. ``lookup_opportunity`` reads it (no approval needed);
``update_opportunity_stage`` changes it, and only ever runs as an approved, stored call."""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

CRM_ENV = "EXAMPLE_CRM_DB"
STAGES = ("Prospecting", "Qualification", "Proposal", "Negotiation", "Commit", "Closed Won", "Closed Lost")
SEED = [
    ("OPP-1042", "Acme Corp", "Acme renewal 2026", "Negotiation", 48000, "ae.morgan"),
    ("OPP-1043", "Globex", "Globex pilot", "Proposal", 12000, "ae.morgan"),
]


def crm_path() -> Path:
    return Path(os.environ.get(CRM_ENV, "example-crm.db"))


def connect() -> sqlite3.Connection:
    return sqlite3.connect(crm_path(), timeout=30)


def seed() -> None:
    """Create the CRM with two opportunities, unless it exists."""
    crm_path().parent.mkdir(parents=True, exist_ok=True)
    with closing(connect()) as db, db:
        db.execute(
            "CREATE TABLE IF NOT EXISTS opportunities (id TEXT PRIMARY KEY, account TEXT, name TEXT, "
            "stage TEXT, amount INTEGER, owner TEXT)"
        )
        db.execute(
            "CREATE TABLE IF NOT EXISTS activities (id INTEGER PRIMARY KEY AUTOINCREMENT, "
            "opportunity_id TEXT, at TEXT, kind TEXT, text TEXT)"
        )
        db.executemany("INSERT OR IGNORE INTO opportunities VALUES (?, ?, ?, ?, ?, ?)", SEED)


def lookup_opportunity(opportunity_id: str) -> str:
    """Read one opportunity: account, name, stage, amount and owner."""
    with closing(connect()) as db:
        row = db.execute(
            "SELECT id, account, name, stage, amount, owner FROM opportunities WHERE id = ?",
            (opportunity_id,),
        ).fetchone()
    if row is None:
        return f"no opportunity {opportunity_id}"
    return f"{row[0]} {row[2]} ({row[1]}): stage {row[3]}, amount {row[4]} USD, owner {row[5]}"


def update_opportunity_stage(
    opportunity_id: str,
    stage: Literal[
        "Prospecting", "Qualification", "Proposal", "Negotiation", "Commit", "Closed Won", "Closed Lost"
    ],
    note: str,
) -> str:
    """Move an opportunity to another stage and log why."""
    with closing(connect()) as db, db:
        row = db.execute("SELECT stage FROM opportunities WHERE id = ?", (opportunity_id,)).fetchone()
        if row is None:
            raise ValueError(f"no opportunity {opportunity_id}")
        db.execute("UPDATE opportunities SET stage = ? WHERE id = ?", (stage, opportunity_id))
        db.execute(
            "INSERT INTO activities (opportunity_id, at, kind, text) VALUES (?, ?, 'stage change', ?)",
            (opportunity_id, datetime.now(timezone.utc).isoformat(), f"{row[0]} -> {stage}: {note}"),
        )
    return f"{opportunity_id}: stage {row[0]} -> {stage}"


def rows() -> list[str]:
    """The CRM as it stands, for the example's output."""
    if not crm_path().exists():
        return ["CRM: not created yet"]
    with closing(connect()) as db:
        opportunities = db.execute("SELECT id, name, stage FROM opportunities ORDER BY id").fetchall()
        activities = db.execute("SELECT opportunity_id, text FROM activities ORDER BY id").fetchall()
    lines = [f"CRM: {oid} {name}: {stage}" for oid, name, stage in opportunities]
    return lines + [f"CRM activity on {oid}: {text}" for oid, text in activities]
