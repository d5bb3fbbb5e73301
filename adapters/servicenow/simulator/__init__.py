"""A stateful ServiceNow Table API simulator (moto-style) for tests and demos, in-process on
``responses`` or as a real HTTP server (``serve()``): tables and clock (``tables``), writes,
people and human-side helpers (``state``), business rules (``rules``), the encoded-query subset
(``query``), row rendering (``views``), thin handlers (``routes``), the seeded demo (``seeded``).

What it keeps faithful, because the connector depends on it: every value is a string; unknown
columns in bodies and queries are silently ignored; journal fields read back empty (entries live
in sys_journal_field); sys_updated_on has one-second resolution; paging follows the Link header;
change_request state jumps are refused by a business rule (403); field changes are written to
sys_audit; approver rows roll up to the record; POST is not idempotent; the Batch API runs each
item as the caller under its own ACLs (``batch``).

    sim = seeded_demo("https://sim.service-now.test")
    with responses.RequestsMock() as rsps:
        sim.install(rsps)
        ...  # the adapter creates a change_request
        sim.approve("CHG0030001", "change.manager")
"""

from .api import ServiceNowSimulator
from .routes import error
from .rules import CHANGE_TRANSITIONS, NEUTRAL, Refused
from .schema import SYS_FIELDS, TASK_TABLES, Column, Table
from .seeded import seeded_demo
from .state import ServiceNowState
from .tables import TIME_FORMAT, ServiceNowTables

__all__ = [
    "CHANGE_TRANSITIONS",
    "NEUTRAL",
    "SYS_FIELDS",
    "TASK_TABLES",
    "TIME_FORMAT",
    "Column",
    "Refused",
    "ServiceNowSimulator",
    "ServiceNowState",
    "ServiceNowTables",
    "Table",
    "error",
    "seeded_demo",
]
