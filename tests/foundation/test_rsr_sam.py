"""RSR on real (ONNX) SAM regions of a rendered view with the simulated teacher: it helps."""
import numpy as np
import torch

from ovnerf.foundation.simulated_teacher import SimulatedCLIPTeacher
from ovnerf.semantics.rsr import region_semantic_ranking

from .conftest import miou, teacher_relevancy


def test_rsr_map_beats_raw_relevancy_map(room_views, room_sam_masks):
    frames, classes = room_views
    f = frames[0]
    H, W = f.labels.shape
    masks = torch.from_numpy(room_sam_masks)
    raw, refined = [], []
    for seed in range(5):
        teacher = SimulatedCLIPTeacher(classes, noise=0.5, seed=seed)
        T = teacher.encode_text(classes)
        S = teacher_relevancy(teacher, f, T)
        R = region_semantic_ranking(S, masks, len(classes))
        raw.append(miou(S.numpy(), f.labels, len(classes)))
        refined.append(miou(R.numpy(), f.labels, len(classes)))
    print(f"mIoU raw relevancy {np.mean(raw):.3f} -> RSR {np.mean(refined):.3f} "
          f"(per seed raw {np.round(raw, 3)}, rsr {np.round(refined, 3)})")
    assert np.mean(refined) > np.mean(raw) + 0.03
    assert sum(r >= s for r, s in zip(refined, raw)) >= 4
