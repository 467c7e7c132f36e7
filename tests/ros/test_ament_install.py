"""The venv is an ament prefix for ovnerf_ros and ovnerf_msgs (scripts/setup.sh →
scripts/install_ament.py), laid out as colcon would: ``ros2 launch ovnerf_ros mapping.launch.py``
and ``ros2 run ovnerf_ros <node>`` resolve through ament_index_python alone."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ament_index_python.packages import get_package_prefix, get_package_share_directory

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def ament_prefix(monkeypatch):
    """AMENT_PREFIX_PATH as a user gets it after ``source .venv/bin/activate``."""
    prefix = sys.prefix
    old = os.environ.get("AMENT_PREFIX_PATH")
    monkeypatch.setenv("AMENT_PREFIX_PATH", prefix + (os.pathsep + old if old else ""))
    return Path(prefix)


def launch_executables(launch_file: Path) -> list[str]:
    """The executables the launch file can start: the values of its ``SIDES`` dict."""
    tree = ast.parse(launch_file.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "SIDES" for t in node.targets):
            return sorted(ast.literal_eval(node.value).values())
    raise AssertionError(f"no SIDES dict in {launch_file}")


def test_share_directory_holds_launch_config_and_manifest(ament_prefix):
    share = Path(get_package_share_directory("ovnerf_ros"))
    assert share == ament_prefix / "share" / "ovnerf_ros"
    launch = share / "launch" / "mapping.launch.py"
    assert launch.is_file()
    assert launch.read_text() == (REPO_ROOT / "launch" / "mapping.launch.py").read_text()
    assert (share / "config" / "ovnerf.yaml").is_file()
    assert "<name>ovnerf_ros</name>" in (share / "package.xml").read_text()
    msgs = Path(get_package_share_directory("ovnerf_msgs"))
    assert (msgs / "package.xml").is_file()
    assert (msgs / "srv" / "Query.srv").is_file()


def test_each_launch_executable_is_installed_and_runs_help(ament_prefix, ros_child_env):
    share = Path(get_package_share_directory("ovnerf_ros"))
    names = launch_executables(share / "launch" / "mapping.launch.py")
    assert names == ["ovnerf_collector_node", "ovnerf_mapping_node", "ovnerf_trainer_node"]
    lib = Path(get_package_prefix("ovnerf_ros")) / "lib" / "ovnerf_ros"
    for name in names:
        exe = lib / name
        assert exe.is_file() and os.access(exe, os.X_OK), f"{exe} missing or not executable"
        proc = subprocess.run([str(exe), "--help"], env=ros_child_env(), cwd=REPO_ROOT,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert f"usage: {name}" in proc.stdout
        assert "--print-ready" in proc.stdout
