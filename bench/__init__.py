"""Benchmarks for approval-connector (not timed tests; run with ``python -m bench``).

Each module has one job: configs and seeding (``setup``), the servers under load (``servers``),
the load generator that runs in its own process (``loadgen``), the three measurements
(``intake``, ``api_calls``, ``memory``), machine facts (``machine``) and the report (``report``)."""
