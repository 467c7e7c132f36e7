import math

import numpy as np
import pytest
import torch

from ovnerf.metrics import SegmentationMeter, confusion_matrix, iou_acc, psnr


def _miou_macc(pred, gt, C):
    m = SegmentationMeter(C)
    m.update(pred, gt)
    return m.compute()


def _reference(pred, gt, C):
    """Independent numpy computation with explicit loops over classes."""
    pred, gt = np.asarray(pred).ravel(), np.asarray(gt).ravel()
    keep = (gt >= 0) & (gt < C)
    pred, gt = pred[keep], gt[keep]
    ious, accs = [], []
    for c in range(C):
        g, p = gt == c, pred == c
        if g.sum() == 0:
            continue  # class absent from ground truth → excluded
        inter = np.logical_and(g, p).sum()
        ious.append(inter / np.logical_or(g, p).sum())
        accs.append(inter / g.sum())
    return float(np.mean(ious)), float(np.mean(accs))


def test_against_numpy_with_absent_classes_and_void():
    rng = np.random.default_rng(0)
    C = 6
    gt = rng.integers(-1, 4, size=(3, 20, 30))  # classes 4, 5 never in GT; −1 = void
    pred = rng.integers(0, C, size=gt.shape)    # predictions do use 4 and 5
    pred[gt == 1] = 1
    res = _miou_macc(torch.tensor(pred), torch.tensor(gt), C)
    ref_miou, ref_macc = _reference(pred, gt, C)
    assert math.isclose(res["miou"], ref_miou, rel_tol=1e-12)
    assert math.isclose(res["macc"], ref_macc, rel_tol=1e-12)
    assert res["present"].tolist() == [True, True, True, True, False, False]
    assert math.isnan(float(res["iou"][4])) and float(res["acc"][1]) == 1.0


def test_confusion_matrix_hand_example_and_accumulation():
    gt = [0, 0, 1, 1, 2, -1]
    pred = [0, 1, 1, 1, 0, 2]
    conf = confusion_matrix(torch.tensor(pred), torch.tensor(gt), 3)
    assert conf.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    r = iou_acc(conf)
    # IoU: c0 = 1/(2+2-1)=1/3, c1 = 2/(2+3-2)=2/3, c2 = 0
    assert math.isclose(r["miou"], (1 / 3 + 2 / 3 + 0) / 3)
    assert math.isclose(r["macc"], (0.5 + 1.0 + 0.0) / 3)
    m = SegmentationMeter(3)
    m.update(np.array(pred[:3]), np.array(gt[:3]))
    m.update(np.array(pred[3:]), np.array(gt[3:]))
    assert math.isclose(m.compute()["miou"], r["miou"])


def test_out_of_range_prediction_is_a_miss():
    r = _miou_macc(np.array([-1, 0]), np.array([0, 0]), 2)
    assert r["acc"][0] == 0.5 and r["iou"][0] == 0.5 and r["miou"] == 0.5


def test_psnr():
    a = torch.zeros(4, 4, 3)
    b = torch.full((4, 4, 3), 0.1)
    assert math.isclose(psnr(a, b), 20.0, rel_tol=1e-6)
    assert psnr(a, a) == math.inf
    mask = torch.zeros(4, 4, dtype=torch.bool)
    mask[0, 0] = True
    b[1:] = 0.5
    assert math.isclose(psnr(a, b, mask=mask), 20.0, rel_tol=1e-6)


def test_authors_per_image_definition_differs_from_pooled_on_a_hand_example():
    from ovnerf.metrics import PerImageMeter, SegmentationMeter
    # image 1: GT all class 0 (4 px); prediction 3x0, 1x1 -> IoU0 3/4, IoU1 0/1 -> nanmean 0.375; acc 0.75
    # image 2: GT 0,0,1,1 ; prediction 0,0,1,1 -> IoU0 = IoU1 = 1 -> 1.0; acc 1.0; class 2 never -> NaN
    # (-1 = void pixel, ignored)
    g1, p1 = np.array([0, 0, 0, 0, -1]), np.array([0, 0, 0, 1, 2])
    g2, p2 = np.array([0, 0, 1, 1]), np.array([0, 0, 1, 1])
    a, ours = PerImageMeter(3), SegmentationMeter(3)
    for p, g in ((p1, g1), (p2, g2)):
        a.update(p, g)
        ours.update(p, g)
    r = a.compute()
    assert r["n_images"] == 2
    assert r["miou_img"] == pytest.approx((0.375 + 1.0) / 2)
    assert r["acc_pix"] == pytest.approx((0.75 + 1.0) / 2)
    # pooled: conf [[5,1],[0,2]] -> IoU0 5/6, IoU1 2/3 -> mIoU 0.75; mAcc (5/6 + 1) / 2
    m = ours.compute()
    assert m["miou"] == pytest.approx((5 / 6 + 2 / 3) / 2)
    assert m["macc"] == pytest.approx((5 / 6 + 1.0) / 2)
