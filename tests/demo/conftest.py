"""Shared small demo scene for tests/demo (generated once per session)."""
from __future__ import annotations

import pytest

from ovnerf.synthetic.generate import generate_room_scene

SMALL = dict(seed=0, width=80, height=60, n_frames=12)


@pytest.fixture(scope="session")
def small_scene(tmp_path_factory):
    """A 12-frame 80×60 demo scene (seed 0)."""
    return generate_room_scene(tmp_path_factory.mktemp("demo") / "scene", **SMALL)
