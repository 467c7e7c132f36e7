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
run_py() { env -u _ROS_WHEELS_BOOTSTRAP_COMPLETE "$PY" "$@"; }

if [ -z "${FORCE:-}" ] && run_py -c "from tf2_msgs.msg import TFMessage" 2>/dev/null; then
    echo "build_tf2_msgs: tf2_msgs already importable in $VENV (FORCE=1 to rebuild)"
    exit 0
fi
t0=$(date +%s)
export PATH="$VENV/bin:$PATH"
export AMENT_PREFIX_PATH="$VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export LD_LIBRARY_PATH="$VENV/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
unset _ROS_WHEELS_BOOTSTRAP_COMPLETE
mkdir -p "$BUILD_DIR"
cmake -S "$ROOT/msg_tf2" -B "$BUILD_DIR" \
    -DCMAKE_PREFIX_PATH="$VENV" -DCMAKE_INSTALL_PREFIX="$VENV" \
    -DPython3_EXECUTABLE="$PY" -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=Release \
    >"$BUILD_DIR.configure.log" 2>&1 \
  || { tail -40 "$BUILD_DIR.configure.log" >&2; echo "build_tf2_msgs: configure failed" >&2; exit 1; }
cmake --build "$BUILD_DIR" -j "$(nproc)" >"$BUILD_DIR.build.log" 2>&1 \
  || { tail -40 "$BUILD_DIR.build.log" >&2; echo "build_tf2_msgs: build failed" >&2; exit 1; }
cmake --install "$BUILD_DIR" >"$BUILD_DIR.install.log" 2>&1 \
  || { tail -40 "$BUILD_DIR.install.log" >&2; echo "build_tf2_msgs: install failed" >&2; exit 1; }
run_py -c "from tf2_msgs.msg import TFMessage; TFMessage()" \
  || { echo "build_tf2_msgs: installed, but 'import tf2_msgs' fails" >&2; exit 1; }
echo "build_tf2_msgs: tf2_msgs built and installed into $VENV in $(( $(date +%s) - t0 )) s"
