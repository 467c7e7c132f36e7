"""Offline preprocessing: per training view CLIP features, relevancy, SAM regions, RSR, DINO.

``pipeline.preprocess_scene`` / ``pipeline.preprocess_views`` compute and cache;
``cache.PreprocessCache(cache_dir).load_view(name) -> ViewTargets`` reads (see cache.py for the
on-disk format).
"""
