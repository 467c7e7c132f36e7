"""Experiments on the synthetic room: the demo run (``demo``), the ablation (``ablation``) and the
speed/memory benchmark (``bench``)."""
