"""The tables the simulated instance starts with (task and its children, users and groups,
approvals, journal, audit, dictionary, choices, table objects) and the column/table records."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .tables import ServiceNowTables

SYS_FIELDS = (
    "sys_id",
    "sys_created_on",
    "sys_created_by",
    "sys_updated_on",
    "sys_updated_by",
    "sys_mod_count",
)
TASK_TABLES = ("change_request", "incident", "sc_request")


def new_sys_id() -> str:
    return uuid.uuid4().hex


@dataclass
class Column:
    type: str = "string"  # string | integer | boolean | choice | reference | journal | glide_date_time
    reference: str = ""
    default: str = ""
    label: str = ""


@dataclass
class Table:
    name: str
    parent: str = ""
    columns: dict[str, Column] = field(default_factory=dict)
    prefix: str = ""  # number prefix (CHG, INC, REQ)
    audited: bool = False
    sys_id: str = field(default_factory=new_sys_id)


def define_base_schema(sim: ServiceNowTables) -> None:
    """The platform tables the connector reads and writes, with their defaults."""
    ref, choice, journal = "reference", "choice", "journal"
    task = {
        "number": Column(),
        "short_description": Column(),
        "description": Column(),
        "state": Column(choice, default="1"),
        "approval": Column(choice, default="not requested"),
        "correlation_id": Column(),
        "correlation_display": Column(),
        "work_notes": Column(journal),
        "comments": Column(journal),
        "assignment_group": Column(ref, "sys_user_group"),
        "assigned_to": Column(ref, "sys_user"),
        "opened_by": Column(ref, "sys_user"),
        "cmdb_ci": Column(ref, "cmdb_ci"),
        "impact": Column(choice, default="3"),
        "urgency": Column(choice, default="3"),
        "priority": Column(choice, default="4"),
        "active": Column("boolean", default="true"),
        "close_notes": Column(),
        "sys_class_name": Column(),
    }
    sim.add_table("task", columns=task, audited=True)
    sim.add_table(
        "change_request",
        parent="task",
        prefix="CHG",
        audited=True,
        columns={
            "type": Column(choice, default="normal"),
            "category": Column(choice, default="Other"),
            "risk": Column(choice, default="3"),
            "close_code": Column(choice),
            "justification": Column(),
            "implementation_plan": Column(),
            "backout_plan": Column(),
            "start_date": Column("glide_date_time"),
            "end_date": Column("glide_date_time"),
        },
    )
    sim.tables["change_request"].columns["state"] = Column(choice, default="-5")
    sim.add_table(
        "incident",
        parent="task",
        prefix="INC",
        audited=True,
        columns={
            "category": Column(choice, default="inquiry"),
            "caller_id": Column(ref, "sys_user"),
            "close_code": Column(choice),
        },
    )
    sim.add_table(
        "sc_request",
        parent="task",
        prefix="REQ",
        audited=True,
        columns={
            "request_state": Column(choice, default="requested"),
            "requested_for": Column(ref, "sys_user"),
        },
    )
    sim.add_table(
        "sys_user",
        columns={
            "user_name": Column(),
            "name": Column(),
            "email": Column(),
            "active": Column("boolean", default="true"),
            "web_service_access_only": Column("boolean", default="false"),
            "roles": Column(),
        },
    )
    sim.add_table("sys_user_group", columns={"name": Column(), "manager": Column(ref, "sys_user")})
    sim.add_table(
        "sys_user_grmember",
        columns={
            "user": Column(ref, "sys_user"),
            "group": Column(ref, "sys_user_group"),
        },
    )
    sim.add_table(
        "sysapproval_approver",
        audited=True,
        columns={
            "approver": Column(ref, "sys_user"),
            "state": Column(choice, default="requested"),
            "sysapproval": Column(ref, "task"),
            "document_id": Column(),
            "source_table": Column(),
            "group": Column(ref, "sys_user_group"),
            "comments": Column(journal),
            "due_date": Column(),
        },
    )
    sim.add_table(
        "sysapproval_group",
        columns={
            "parent": Column(ref, "task"),
            "assignment_group": Column(ref, "sys_user_group"),
            "approval": Column(choice, default="requested"),
        },
    )
    sim.add_table(
        "std_change_record_producer",  # standard change templates (the Change Management API's)
        columns={"name": Column(), "template_value": Column(), "active": Column("boolean", default="true")},
    )
    sim.add_table(
        "sys_journal_field",
        columns={
            "element_id": Column(),
            "element": Column(),
            "name": Column(),
            "value": Column(),
        },
    )
    sim.add_table(
        "sys_audit",
        columns={
            "tablename": Column(),
            "documentkey": Column(),
            "fieldname": Column(),
            "oldvalue": Column(),
            "newvalue": Column(),
            "user": Column(),
            "record_checkpoint": Column("integer"),
        },
    )
    sim.add_table(
        "sys_dictionary",
        columns={
            "name": Column(),
            "element": Column(),
            "internal_type": Column(),
            "reference": Column(),
            "column_label": Column(),
            "mandatory": Column("boolean", default="false"),
        },
    )
    sim.add_table(
        "sys_choice",
        columns={
            "name": Column(),
            "element": Column(),
            "value": Column(),
            "label": Column(),
            "sequence": Column("integer"),
            "inactive": Column("boolean", default="false"),
            "language": Column(default="en"),
        },
    )
    sim.add_table(
        "sys_db_object",
        columns={
            "name": Column(),
            "label": Column(),
            "super_class": Column(ref, "sys_db_object"),
        },
    )
    sim.sync_meta()
