# Shared steps for building an ament_cmake interface package (msg/, msg_tf2/) against the ROS 2
# PyPI wheels installed in a venv, and installing it into that venv (same prefix as the wheels'
# own libraries, so ros-wheels-bootstrapper's LD_LIBRARY_PATH (sys.prefix/lib) finds the
# generated lib<pkg>__*.so). Sourced by scripts/build_msgs.sh and scripts/build_tf2_msgs.sh;
# not executable on its own.
#
# Before sourcing, the caller sets:
#   TAG   prefix of every message (e.g. build_msgs)
#   VENV  absolute path of the venv (install prefix)
#   PY    the venv's python3
# Functions:
#   run_py ARGS...                    the venv's python, made to re-bootstrap LD_LIBRARY_PATH
#   cmake_build_install SRC BUILD_DIR configure, build, install SRC into $VENV (logs next to
#                                     BUILD_DIR: BUILD_DIR.{configure,build,install}.log);
#                                     exits 1 with the log's tail on failure.

# The child python must re-bootstrap its own LD_LIBRARY_PATH (see README troubleshooting).
run_py() { env -u _ROS_WHEELS_BOOTSTRAP_COMPLETE "$PY" "$@"; }

cmake_build_install() {
    local src="$1" build_dir="$2"
    # PATH gets the venv's bin so ament/rosidl python tools resolve.
    export PATH="$VENV/bin:$PATH"
    export AMENT_PREFIX_PATH="$VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
    # The generators run python scripts as children of cmake: give them the full bootstrapped env.
    export LD_LIBRARY_PATH="$VENV/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    unset _ROS_WHEELS_BOOTSTRAP_COMPLETE
    mkdir -p "$build_dir"
    cmake -S "$src" -B "$build_dir" \
        -DCMAKE_PREFIX_PATH="$VENV" \
        -DCMAKE_INSTALL_PREFIX="$VENV" \
        -DPython3_EXECUTABLE="$PY" \
        -DBUILD_TESTING=OFF \
        -DCMAKE_BUILD_TYPE=Release >"$build_dir.configure.log" 2>&1 \
      || { tail -40 "$build_dir.configure.log" >&2; echo "$TAG: cmake configure failed (log: $build_dir.configure.log)" >&2; exit 1; }
    cmake --build "$build_dir" -j "$(nproc)" >"$build_dir.build.log" 2>&1 \
      || { tail -40 "$build_dir.build.log" >&2; echo "$TAG: build failed (log: $build_dir.build.log)" >&2; exit 1; }
    cmake --install "$build_dir" >"$build_dir.install.log" 2>&1 \
      || { tail -40 "$build_dir.install.log" >&2; echo "$TAG: install failed (log: $build_dir.install.log)" >&2; exit 1; }
}
