"""Top-level pytest configuration: an isolated ROS 2 environment for every test run.

Every test run gets its own DDS world, fixed before any test (or rclpy) starts:

- ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``: discovery stays on this machine (Kilted ignores
  ``ROS_LOCALHOST_ONLY``; the default multicasts off-host).
- ``ROS_DOMAIN_ID = 1 + pid % 100``: distinct per pytest process, so concurrent test runs on one
  machine do not see each other's nodes (override with ``OVNERF_TEST_ROS_DOMAIN_ID``).
- ``RMW_IMPLEMENTATION=rmw_fastrtps_cpp``: the RMW shipped in requirements-ros.txt.

Fixtures for ROS tests:

- ``ros_env`` (session): the dict of the variables above (already exported to ``os.environ``).
- ``ros_child_env`` (session): ``ros_child_env(extra=None) -> dict``, an environment for a child
  Python process that will import rclpy (see :func:`child_env`).
- ``spawn_ros_process``: ``spawn_ros_process(args, *, ready_line=None, timeout=60.0, env=None)
  -> subprocess.Popen`` runs ``[sys.executable, *args]`` with that environment, optionally
  waits until the child prints ``ready_line`` on stdout, and kills it at teardown.

Marker ``ros``: a test that needs rclpy and the built ovnerf_msgs interfaces. Tests under a
``tests/ros*/`` directory get it automatically. When ROS is not importable such tests are
skipped with the reason, except under CI (``CI=true``) or ``OVNERF_REQUIRE_ROS=1``, where they
fail: CI must not go green by skipping the ROS layer.
"""
from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

# The ros-wheels-bootstrapper guard: set in a process whose LD_LIBRARY_PATH is already complete.
_BOOTSTRAP_GUARD = "_ROS_WHEELS_BOOTSTRAP_COMPLETE"


def run_domain_id() -> int:
    """The ROS_DOMAIN_ID of this test run: ``OVNERF_TEST_ROS_DOMAIN_ID`` or ``1 + pid % 100``."""
    override = os.environ.get("OVNERF_TEST_ROS_DOMAIN_ID")
    return int(override) if override else 1 + os.getpid() % 100


def ros_test_env() -> dict[str, str]:
    """The ROS variables every test run uses (see module docstring)."""
    return {
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
        "ROS_DOMAIN_ID": str(run_domain_id()),
        "RMW_IMPLEMENTATION": "rmw_fastrtps_cpp",
    }


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for a child Python process that imports rclpy / ROS message types.

    Copies ``os.environ`` with the test ROS variables, and removes the bootstrapper guard
    ``_ROS_WHEELS_BOOTSTRAP_COMPLETE``: a child that inherits the guard but not the matching
    ``LD_LIBRARY_PATH`` (an env built by hand, another venv's python, a sanitised env) fails to
    load the ROS libraries; without the guard the child's own ros-wheels-bootstrapper re-executes
    it once with the right ``LD_LIBRARY_PATH``. ``extra`` entries win.
    """
    env = dict(os.environ)
    env.update(ros_test_env())
    env.pop(_BOOTSTRAP_GUARD, None)
    env["PYTHONUNBUFFERED"] = "1"
    if extra:
        env.update(extra)
    return env


_ROS_IMPORT_ERROR: list[str | None] = []


def ros_import_error() -> str | None:
    """None when rclpy and ovnerf_msgs import in this process, else the reason (cached)."""
    if not _ROS_IMPORT_ERROR:
        try:
            import rclpy  # noqa: F401
            import ovnerf_msgs.srv  # noqa: F401
            import ovnerf_msgs.action  # noqa: F401
            import ovnerf_msgs.msg  # noqa: F401
            _ROS_IMPORT_ERROR.append(None)
        except Exception as exc:  # ImportError, or a shared library that fails to load
            _ROS_IMPORT_ERROR.append(
                f"ROS not importable ({type(exc).__name__}: {exc}); run scripts/setup.sh "
                "(scripts/build_msgs.sh builds ovnerf_msgs)")
    return _ROS_IMPORT_ERROR[0]


def pytest_configure(config):
    config.addinivalue_line("markers", "ros: needs rclpy + ovnerf_msgs (skipped when absent, except on CI)")
    # Exported before any test imports rclpy, so in-process nodes use the same isolated DDS world.
    os.environ.update(ros_test_env())


def pytest_report_header(config):
    env = ros_test_env()
    return (f"ros: ROS_DOMAIN_ID={env['ROS_DOMAIN_ID']} "
            f"ROS_AUTOMATIC_DISCOVERY_RANGE={env['ROS_AUTOMATIC_DISCOVERY_RANGE']} "
            f"RMW_IMPLEMENTATION={env['RMW_IMPLEMENTATION']}")


def _in_ros_dir(item) -> bool:
    try:
        rel = Path(str(item.fspath)).resolve().relative_to(REPO_ROOT / "tests")
    except ValueError:
        return False
    return len(rel.parts) > 1 and rel.parts[0].startswith("ros")


def pytest_collection_modifyitems(config, items):
    ros_items = []
    for item in items:
        if _in_ros_dir(item) and item.get_closest_marker("ros") is None:
            item.add_marker(pytest.mark.ros)
        if item.get_closest_marker("ros") is not None:
            ros_items.append(item)
    if not ros_items or _ros_required():
        return  # when required, pytest_runtest_setup fails each ROS test instead
    reason = ros_import_error()
    if reason is not None:
        for item in ros_items:
            item.add_marker(pytest.mark.skip(reason=reason))


def _ros_required() -> bool:
    return (os.environ.get("CI", "").lower() in ("1", "true", "yes")
            or os.environ.get("OVNERF_REQUIRE_ROS") == "1")


def pytest_runtest_setup(item):
    if item.get_closest_marker("ros") is not None and _ros_required():
        reason = ros_import_error()
        if reason is not None:
            pytest.fail(f"{reason} (required: CI / OVNERF_REQUIRE_ROS=1)", pytrace=False)


@pytest.fixture(scope="session")
def ros_env() -> dict[str, str]:
    """The isolated ROS environment of this run (already in ``os.environ``)."""
    env = ros_test_env()
    os.environ.update(env)
    return env


@pytest.fixture(scope="session")
def ros_child_env():
    """``ros_child_env(extra=None) -> dict``: environment for a ROS child process."""
    return child_env


def _wait_for_line(proc: subprocess.Popen, ready_line: str, timeout: float) -> list[str]:
    """Read the child's stdout until a line equals ``ready_line``; raise with its output if not."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        readable, _, _ = select.select([proc.stdout], [], [], 0.2)
        if readable:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line.rstrip("\n"))
            if line.strip() == ready_line:
                return seen
    proc.kill()
    out, err = proc.communicate(timeout=10)
    raise RuntimeError(
        f"child {proc.args!r} did not print {ready_line!r} within {timeout:.0f} s "
        f"(exit code {proc.returncode}).\nstdout:\n" + "\n".join(seen) + (out or "")
        + f"\nstderr:\n{err or ''}")


@pytest.fixture
def spawn_ros_process(ros_env):
    """Factory: start ``[sys.executable, *args]`` as a ROS child process; killed at teardown."""
    procs: list[subprocess.Popen] = []

    def spawn(args, *, ready_line: str | None = None, timeout: float = 60.0,
              env: dict[str, str] | None = None, cwd: str | os.PathLike | None = None) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, *[str(a) for a in args]], env=child_env(env), cwd=cwd or REPO_ROOT,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs.append(proc)
        if ready_line is not None:
            _wait_for_line(proc, ready_line, timeout)
        return proc

    yield spawn
    for proc in procs:
        if proc.poll() is None:
            try:
                proc.stdin.close()  # polite stop: the child may exit on EOF
            except Exception:
                pass
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()
