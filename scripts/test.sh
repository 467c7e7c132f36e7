#!/usr/bin/env bash
# Run the test suite with the project's venv: ./scripts/test.sh [pytest args...]
# (default: everything under tests/, see pytest.ini). Exit status is pytest's.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${VENV:-$ROOT/.venv}"
[ -x "$VENV/bin/python" ] || { echo "no venv at $VENV: run ./scripts/setup.sh first" >&2; exit 2; }
# This checkout's sources first (a git worktree sharing a venv installed editable elsewhere).
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
# A fresh interpreter bootstraps its own LD_LIBRARY_PATH for the ROS wheels.
exec env -u _ROS_WHEELS_BOOTSTRAP_COMPLETE "$VENV/bin/python" -m pytest -q "$@"
