"""Microsoft Agent Framework (extra ``[maf]``): gated function tools, the stop-at-pending
middleware, resumable agent sessions and workflows. The connector, not MAF, runs an approved
call, exactly once."""
