"""ServiceNow adapter: approval records in any task table (change_request by default), decided by
their approval/state columns or sysapproval_approver rows, outcomes written back as work notes."""

from .adapter import ServiceNowAdapter
from .settings import ServiceNowRouteSettings, ServiceNowSystemSettings

ADAPTER = ServiceNowAdapter

__all__ = ["ADAPTER", "ServiceNowAdapter", "ServiceNowRouteSettings", "ServiceNowSystemSettings"]
