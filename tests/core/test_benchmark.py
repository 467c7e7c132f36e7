import torch

from ovnerf.field.benchmark import bench_field, make_wall_field
from ovnerf.field.naive_reference import naive_render_rays
from ovnerf.field.renderer import render_rays
from ovnerf.field.semantic_field import FieldConfig


def _tiny():
    return FieldConfig.cpu_preset(n_voxels_init=16 ** 3, feature_dim=16, feature_hidden=16, dino_dim=8,
                                  dino_hidden=8, rgb_hidden=16, max_samples=32)


def test_optimised_renderer_matches_naive_reference():
    torch.manual_seed(0)
    field = make_wall_field(_tiny(), "cpu")
    o = torch.tensor([[2.5, 0.0, 0.0]]).repeat(64, 1)
    d = torch.nn.functional.normalize(torch.tensor([[-1.0, 0, 0]]) + 0.2 * torch.randn(64, 3), dim=-1)
    fast = render_rays(field, o, d)
    slow = naive_render_rays(field, o, d)
    assert float(fast["acc"].detach().mean()) > 0.5  # rays do hit the wall
    for k in ("rgb", "depth", "feature", "dino", "acc"):
        # differences = the σ≈1e-3 residue in empty cells that the alpha mask skips
        torch.testing.assert_close(fast[k].detach(), slow[k].detach(), atol=1e-2, rtol=1e-3)


def test_bench_field_reports_figures():
    res = bench_field("cpu", n_rays=64, cfg=_tiny(), iters=1, warmup=0, render_hw=(12, 16))
    for k in ("train_it_s", "train_peak_mem_mb", "render_s", "render_peak_mem_mb", "naive_it_s", "speedup"):
        assert res[k] > 0, k


def test_peer_bench_reports_a_ratio_per_phase():
    from ovnerf.field.peer_bench import PHASES, bench_peer, format_peer

    res = bench_peer("cpu", n_rays=64, cfg=_tiny(), repeats=1)
    assert set(res["phases"]) == set(PHASES)
    for r in res["phases"].values():
        assert r["ours_s"] > 0 and r["tensorf_s"] > 0 and r["ratio"] == r["tensorf_s"] / r["ours_s"]
    assert all(p in "\n".join(format_peer(res)) for p in PHASES)


def test_paper_scale_bench_runs_the_same_path_at_toy_size(capsys):
    """`--paper-scale` is GPU-only from the CLI (one line, exit 0 without CUDA); its code path is
    device-agnostic and runs here at toy size."""
    from types import SimpleNamespace

    from ovnerf.commands.bench import run
    from ovnerf.experiments.paper_scale import bench_paper_scale

    tiny = dict(n_voxels_init=12 ** 3, n_voxels_final=16 ** 3, max_samples=24, feature_hidden=16, rgb_hidden=16,
                dino_hidden=8, app_components=(4, 4, 4), density_components=(2, 2, 2))
    class OneHotTeacher:  # targets straight from the labels (the simulated teacher loads WordNet: slow)
        emb = torch.nn.functional.normalize(torch.randn(40, 16, generator=torch.Generator().manual_seed(0)), dim=-1)

        def multiscale_features(self, f):
            return self.emb[torch.as_tensor(f.labels, dtype=torch.long).clamp(0, 39)][None]

        def encode_text(self, names):
            return self.emb[:len(names)]

    r = bench_paper_scale("cpu", iterations=2, batch_rays=64, width=32, height=24, views=2, field_overrides=tiny,
                          teacher=OneHotTeacher(), print_fn=None)
    assert r["iterations"] == 2 and r["train_s"] > 0 and r["render_s"] > 0 and r["query_ms"] > 0
    args = SimpleNamespace(only="peer", repeats=None, rays=64, threads=0, paper_scale=True, device="cpu",
                           iterations=2, views=2, json=None, quick=True, checkpoint=None)
    if not torch.cuda.is_available():
        assert run(args) == 0
        out = capsys.readouterr().out.strip().splitlines()
        assert len(out) == 1 and out[0].startswith("no CUDA device")
