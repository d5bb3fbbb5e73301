#!/usr/bin/env bash
# Run every MAF snippet with the given Python (default: python3) in a scratch directory.
# Usage: research/maf/run_all.sh [/path/to/venv/bin/python]
set -euo pipefail
PY="${1:-python3}"
cd "$(dirname "$0")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "agent-framework-core $("$PY" -c 'import importlib.metadata as m; print(m.version("agent-framework-core"))')"
echo "--- middleware_gate (pending text, run continues)"
"$PY" middleware_gate.py step1 "$work/a" && "$PY" middleware_gate.py step2 "$work/a" approve
echo "--- middleware_gate --stop (MiddlewareTermination ends the run), rejected"
"$PY" middleware_gate.py step1 "$work/b" --stop && "$PY" middleware_gate.py step2 "$work/b" reject
echo "--- middleware_parallel"
"$PY" middleware_parallel.py
echo "--- declaration_only"
"$PY" declaration_only.py step1 "$work/c" && "$PY" declaration_only.py step2 "$work/c" approve
echo "--- workflow_checkpoint"
"$PY" workflow_checkpoint.py step1 "$work/d" && "$PY" workflow_checkpoint.py step2 "$work/d" approve
echo "--- approval_response_edit"
"$PY" approval_response_edit.py 2>&1 | grep -v '^Ignored'
