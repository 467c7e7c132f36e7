#!/usr/bin/env bash
# Build msg_tf2/ (a minimal tf2_msgs with the upstream TFMessage definition) into a venv, with the
# same recipe as scripts/build_msgs.sh (which patches the wheels' exported CMake include dirs: run
# that first). Skipped when `import tf2_msgs.msg` already works (a real ROS install or a
# previous build).
#
# Usage: scripts/build_tf2_msgs.sh [VENV]     (default: ./.venv);  FORCE=1 to rebuild.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$(cd "${1:-$ROOT/.venv}" && pwd)"
PY="$VENV/bin/python3"
BUILD_DIR="$ROOT/build/msg_tf2"
TAG=build_tf2_msgs
# run_py, cmake_build_install
. "$ROOT/scripts/lib_build_interfaces.sh"

if [ -z "${FORCE:-}" ] && run_py -c "from tf2_msgs.msg import TFMessage" 2>/dev/null; then
    echo "build_tf2_msgs: tf2_msgs already importable in $VENV (FORCE=1 to rebuild)"
    exit 0
fi
t0=$(date +%s)
cmake_build_install "$ROOT/msg_tf2" "$BUILD_DIR"
run_py -c "from tf2_msgs.msg import TFMessage; TFMessage()" \
  || { echo "build_tf2_msgs: installed, but 'import tf2_msgs' fails" >&2; exit 1; }
echo "build_tf2_msgs: tf2_msgs built and installed into $VENV in $(( $(date +%s) - t0 )) s"
