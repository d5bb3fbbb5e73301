"""A tool module that fails when imported (a missing dependency in the executor's environment)."""

raise ImportError("No module named 'crm_sdk' (the executor lacks the CRM client)")
