#!/usr/bin/env bash
# Build the ament_cmake interface package in msg/ (ovnerf_msgs) against the ROS 2 PyPI wheels
# installed in a venv, and install it into that venv (same prefix as the wheels' own libraries,
# so ros-wheels-bootstrapper's LD_LIBRARY_PATH (sys.prefix/lib) finds libovnerf_msgs__*.so).
#
# Usage: scripts/build_msgs.sh [VENV]        (default: ./.venv)
#        FORCE=1 scripts/build_msgs.sh       (rebuild even when the installed copy is current)
#
# Idempotent: skips the build when the venv already imports ovnerf_msgs, no file under msg/ is
# newer than the install stamp, and requirements-ros.txt is the one it was built against.
#
# Why the patch step: the wheels' exported CMake targets
# (share/*/cmake/*rosidl_generator_pyExport.cmake) hard-code the wheel builder's include dirs
# (/opt/python/cp311-cp311/include/python3.11 and its numpy include dir). CMake refuses imported
# targets whose include dirs do not exist, so they are rewritten to this venv's Python and numpy.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$(cd "${1:-$ROOT/.venv}" && pwd)"
PY="$VENV/bin/python3"
BUILD_DIR="$ROOT/build/msg"
STAMP="$VENV/share/ovnerf_msgs/.ovnerf_msgs_build_stamp"

[ -x "$PY" ] || { echo "build_msgs: no python at $PY (create the venv first: scripts/setup.sh)" >&2; exit 1; }
for tool in cmake make g++; do
    command -v "$tool" >/dev/null || { echo "build_msgs: '$tool' not found (apt-get install cmake make g++)" >&2; exit 1; }
done

TAG=build_msgs
# run_py, cmake_build_install
. "$ROOT/scripts/lib_build_interfaces.sh"

# The stamp holds the hash of requirements-ros.txt: other ROS wheel versions -> rebuild.
ROS_REQ_HASH="$(sha256sum "$ROOT/requirements-ros.txt" 2>/dev/null | cut -d' ' -f1 || true)"
if [ -z "${FORCE:-}" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$ROS_REQ_HASH" ] \
   && [ -z "$(find "$ROOT/msg" -newer "$STAMP" -type f -print -quit)" ] \
   && run_py -c "import ovnerf_msgs.srv, ovnerf_msgs.action, ovnerf_msgs.msg" 2>/dev/null; then
    echo "build_msgs: ovnerf_msgs already built and importable in $VENV (FORCE=1 to rebuild)"
    exit 0
fi

t0=$(date +%s)
PY_INC="$(run_py -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
NP_INC="$(run_py -c 'import numpy; print(numpy.get_include())')"
[ -f "$PY_INC/Python.h" ] || { echo "build_msgs: Python.h not found in $PY_INC (install the Python dev headers)" >&2; exit 1; }

# 1. Point the wheels' exported include dirs at this venv (idempotent: only rewrites foreign paths).
patched=0
for f in "$VENV"/share/*/cmake/*rosidl_generator_pyExport.cmake; do
    [ -f "$f" ] || continue
    if grep -q '/opt/python/' "$f"; then
        sed -i -E \
            -e "s#/opt/python/cp3[0-9]+-cp3[0-9]+/include/python3\.[0-9]+#${PY_INC}#g" \
            -e "s#/opt/python/cp3[0-9]+-cp3[0-9]+/lib/python3\.[0-9]+/site-packages/numpy/_core/include#${NP_INC}#g" \
            "$f"
        patched=$((patched + 1))
    fi
done
echo "build_msgs: patched $patched exported CMake file(s) -> $PY_INC ; $NP_INC"

# 2. Configure, build, install.
cmake_build_install "$ROOT/msg" "$BUILD_DIR"

# 3. Verify from a fresh interpreter (which bootstraps LD_LIBRARY_PATH itself).
run_py -c "import ovnerf_msgs.srv, ovnerf_msgs.action, ovnerf_msgs.msg; from ovnerf_msgs.srv import Query; Query.Request()" \
  || { echo "build_msgs: installed, but 'import ovnerf_msgs' fails" >&2; exit 1; }
mkdir -p "$(dirname "$STAMP")" && echo "$ROS_REQ_HASH" >"$STAMP"
echo "build_msgs: ovnerf_msgs built and installed into $VENV in $(( $(date +%s) - t0 )) s"
