"""Team rule: the core `ovnerf/` never imports rclpy (statically checked on every module)."""
import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "ovnerf"
ROS_MODULES = ("rclpy", "ovnerf_msgs", "sensor_msgs", "geometry_msgs", "std_msgs", "tf2_ros", "cv_bridge")


def _imported_roots(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split(".")[0], node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module.split(".")[0], node.lineno


def test_no_ros_import_in_core():
    files = sorted(CORE.rglob("*.py"))
    assert len(files) >= 3
    offenders = [f"{f.relative_to(CORE.parent)}:{line} imports {mod}"
                 for f in files for mod, line in _imported_roots(ast.parse(f.read_text(), str(f)))
                 if mod in ROS_MODULES]
    assert offenders == []
