"""Benchmarks (``python -m bench``): one module per section (intake, api_calls, replicas,
approvals, overhead, listing, poll, memory, cli_start), each with ``run(quick)`` and ``render``;
the load generators in their own processes (``wrk`` via bench/wrk.py, bench/loadgen.py as the
fallback) and the real-path helpers (flows, systems, servers, setup). See the README's
"Benchmarks" and bench/RESULTS.md."""
