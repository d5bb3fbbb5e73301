"""Runnable use cases, each a resumable conversation that waits on an approval ticket:
refund_email (the seed tutorial), crm_update (seed use case 02: a gatekeeper in a group chat),
change_triage (seed use case 05: IT change-request triage in ServiceNow or Jira)."""
