"""Business rules of the simulated instance: the change_request state model (jumps refused with
403), close codes, approvals requested on insert and approver rows rolling up to the record."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .state import ServiceNowState

# change_request state model (normal change): value -> states reachable in one step.
CHANGE_TRANSITIONS: dict[str, set[str]] = {
    "-5": {"-4", "-3", "4"},
    "-4": {"-3", "-5", "4"},
    "-3": {"-2", "-5", "4"},
    "-2": {"-1", "-5", "4"},
    "-1": {"0", "4"},
    "0": {"3"},
    "3": set(),
    "4": set(),
}
# A standard change is pre-authorized: from New straight to Scheduled, no Assess or Authorize.
STANDARD_TRANSITIONS = {**CHANGE_TRANSITIONS, "-5": {"-2", "4"}}
NEUTRAL = {"not_required", "cancelled", "skipped"}
GLIDE_TIME = "%Y-%m-%d %H:%M:%S"


class Refused(Exception):
    """A business rule refused a change (the API answers 403)."""

    def __init__(self, rule: str, table: str, message: str = "") -> None:
        super().__init__(message or rule)
        self.rule = rule
        self.table = table
        self.message = message


def before_update(sim: ServiceNowState, table: str, row: dict[str, str], changed: dict[str, str]) -> None:
    """Business rules that can refuse an update (the platform answers 403)."""
    if table != "change_request" or "state" not in changed:
        return
    old, new = row.get("state", ""), changed["state"]
    model = STANDARD_TRANSITIONS if row.get("type") == "standard" else CHANGE_TRANSITIONS
    if new not in model.get(old, set()):
        raise Refused(
            "Change Model: Check State Transition",
            table,
            f"State change from {old} to {new} is not allowed",
        )
    if new == "3":
        code = changed.get("close_code", row.get("close_code", ""))
        notes = changed.get("close_notes", row.get("close_notes", ""))
        if not code or not notes:
            raise Refused(
                "Change Model: Close Code Mandatory",
                table,
                "close_code and close_notes are required to close",
            )


def after_update(
    sim: ServiceNowState, table: str, row: dict[str, str], old: dict[str, str], user: str
) -> None:
    """The normal change's restart: back to New cancels the approvals asked so far (the record's
    approval is not requested any more); entering Assess asks the approval group again."""
    if table != "change_request" or row.get("type") == "standard" or "state" not in old:
        return
    if row["state"] == "-5" and old["state"] not in ("-5",):
        for approver in sim.rows["sysapproval_approver"].values():
            if approver["sysapproval"] == row["sys_id"] and approver["state"] not in NEUTRAL | {"rejected"}:
                sim.write(
                    "sysapproval_approver", approver["sys_id"], {"state": "cancelled"}, "system", rules=False
                )
        sim.write(table, row["sys_id"], {"approval": "not requested"}, user, rules=False)
    elif row["state"] == "-4" and row.get("approval") == "not requested":
        group = sim.approval_groups.get(table)
        if group:
            request_approval(sim, table, row, group, user)


def glide_time(value: str) -> str:
    """A glide_date_time as the platform keeps it: 'YYYY-MM-DD HH:MM:SS' (UTC), else empty."""
    try:
        return datetime.strptime(value.strip(), GLIDE_TIME).strftime(GLIDE_TIME) if value.strip() else ""
    except ValueError:
        return ""


def request_approval(sim: ServiceNowState, table: str, row: dict[str, str], group_id: str, user: str) -> None:
    for member in sim.rows["sys_user_grmember"].values():
        if member["group"] == group_id:
            sim.insert_raw(
                "sysapproval_approver",
                {
                    "approver": member["user"],
                    "state": "requested",
                    "sysapproval": row["sys_id"],
                    "document_id": row["sys_id"],
                    "source_table": table,
                    "group": group_id,
                },
                "system",
            )
    if row.get("approval") == "not requested":
        sim.write(table, row["sys_id"], {"approval": "requested"}, user, rules=False)


def roll_up(sim: ServiceNowState, task_id: str, user: str) -> None:
    """Approver rows decide the record: any rejection rejects; in a group one approval is
    enough (the others become not_required); every group/person approved approves."""
    found = sim.lookup("task", task_id)
    if not found:
        return
    table, task = found
    rows = [r for r in sim.rows["sysapproval_approver"].values() if r["sysapproval"] == task_id]
    if any(r["state"] == "rejected" for r in rows):
        verdict = "rejected"
    else:
        for r in rows:
            if r["state"] == "approved" and r["group"]:
                for other in rows:
                    if other["group"] == r["group"] and other["state"] in ("requested", "not requested"):
                        sim.write(
                            "sysapproval_approver",
                            other["sys_id"],
                            {"state": "not_required"},
                            "system",
                            rules=False,
                        )
        voting = [r for r in rows if r["state"] not in NEUTRAL]
        verdict = "approved" if voting and all(r["state"] == "approved" for r in voting) else ""
    if not verdict or task.get("approval") == verdict:
        return
    values = {"approval": verdict}
    if table == "change_request":
        if verdict == "approved" and task["state"] in ("-5", "-4", "-3"):
            values["state"] = "-2"
        elif verdict == "rejected" and task["state"] != "-5":
            values["state"] = "-5"
    sim.write(table, task_id, values, user, rules=False)
