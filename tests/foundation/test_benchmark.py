"""bench_backends: figures per backend (small frame here; `ovnerf bench` runs 640×480)."""
from ovnerf.foundation.benchmark import bench_backends, synthetic_frame


def test_bench_backends_reports_time_and_memory(tmp_path):
    lines = []
    res = bench_backends({"sam_points_per_side": 4, "dino_long_side": 112,
                          "sam_checkpoint": str(tmp_path / "sam_vit_h_4b8939.pth")},
                         kinds=["clip:simulated", "sam:onnx", "sam:torch", "dino:onnx"],
                         width=128, height=96, print_fn=lines.append)
    print("\n".join(lines))
    for k in ("clip:simulated", "sam:onnx", "dino:onnx"):
        assert res[k]["seconds_per_frame"] > 0 and res[k]["peak_mem_mb"] >= 0, res[k]
        assert res[k]["width"] == 128 and res[k]["mem_kind"] == "rss"
    assert res["clip:simulated"]["output_shape"] == [1, 6, 8, 512]
    assert res["dino:onnx"]["output_shape"][2] == 384
    assert "sam_checkpoint" in res["sam:torch"]["skipped"]
    assert len(lines) == 4


def test_synthetic_frame():
    f = synthetic_frame(64, 48)
    assert f.image.shape == (48, 64, 3) and f.labels.shape == (48, 64) and f.labels.max() <= 5
