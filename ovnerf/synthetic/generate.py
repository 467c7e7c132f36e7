"""Generate the built-in demo scene: the procedural room rendered along a robot trajectory.

``generate_room_scene(out_dir, seed, ...)`` writes, through :class:`ovnerf.scene.store.SceneStore`:

    out_dir/transforms.json   nerfstudio metadata, "ovnerf_classes" = the room's class names
    out_dir/images/frame_00000.png ...   RGB
    out_dir/depth/...          uint16 mm z-depth
    out_dir/labels/...         uint8 class ids (255 = void; the closed room leaves none)
    out_dir/room.json          ground truth: room size, camera, per-object instances
                               (class, AABB, centre in the map frame), lights, generator args

Frames are named ``frame_%05d`` in trajectory order, timestamps ``t0 + i / rate_hz``. Everything
is a deterministic function of the arguments: the same seed gives byte-identical label and depth
PNGs (and images, on the same machine/library versions).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable

import numpy as np

from ovnerf.synthetic.render import RoomRenderer, intrinsics_from_hfov
from ovnerf.synthetic.room import LAYOUTS, build_room
from ovnerf.synthetic.trajectory import camera_trajectory
from ovnerf.errors import UserError
from ovnerf.scene.frames import PosedFrame
from ovnerf.scene.store import JOURNAL, SceneStore, atomic_write_bytes

ROOM_JSON = "room.json"
_GENERATED = ("transforms.json", JOURNAL, "images", "depth", "labels", ROOM_JSON, "bag")


def generate_room_scene(out_dir, seed: int = 0, width: int = 160, height: int = 120,
                        n_frames: int = 40, layout: str = "default", hfov_deg: float = 75.0,
                        *, ssaa: int = 1, rate_hz: float = 5.0, camera_height: float | None = None,
                        overwrite: bool = False,
                        progress: Callable[[int, int], None] | None = None) -> Path:
    """Render the demo room into a scene directory; returns its path.

    ``seed`` picks the layout/size/materials and the camera mount (height 1.1–1.3 m unless
    ``camera_height`` is given, pitch 8–14° down); ``width``×``height`` pixels with horizontal
    FOV ``hfov_deg``; ``n_frames`` poses along the robot path; ``ssaa`` anti-aliasing factor;
    ``progress(i, n)`` is called after each frame. An existing scene in ``out_dir`` raises
    :class:`UserError` unless ``overwrite`` (which removes only the generator's own outputs).
    """
    out = Path(out_dir)
    _check_args(seed, width, height, n_frames, layout, hfov_deg, ssaa, rate_hz)
    if out.exists() and not out.is_dir():
        raise UserError(f"output path exists and is not a directory: {out}")
    if (out / "transforms.json").exists() or (out / ROOM_JSON).exists():
        if not overwrite:
            raise UserError(f"{out} already holds a scene (use overwrite / --overwrite)")
        for name in _GENERATED:
            p = out / name
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()

    room = build_room(int(seed), layout)
    rng = np.random.default_rng([int(seed), 7])
    cam_h = float(rng.uniform(1.1, 1.3)) if camera_height is None else float(camera_height)
    if not 0.2 <= cam_h <= room.height - 0.3:
        raise UserError(f"camera_height must be in [0.2, {room.height - 0.3:.2f}] m for this room, got {cam_h}")
    pitch = float(rng.uniform(8.0, 14.0))
    phase = float(rng.uniform(0, 2 * np.pi))
    traj = camera_trajectory(room.width, room.depth, int(n_frames), margin=room.margin,
                             height=cam_h, pitch_deg=pitch, phase=phase, rate_hz=rate_hz,
                             path=room.path)
    K = intrinsics_from_hfov(int(width), int(height), float(hfov_deg))
    renderer = RoomRenderer(room)

    store = SceneStore(out, create=True)
    store.set_class_names(room.classes)
    for i in range(int(n_frames)):
        r = renderer.render(K, traj.c2w[i], int(height), int(width), ssaa=int(ssaa))
        store.add_frame(PosedFrame(name=f"frame_{i:05d}", image=r.image, K=K, c2w=traj.c2w[i],
                                   timestamp=float(traj.timestamps[i]), depth=r.depth,
                                   labels=r.labels))
        if progress is not None:
            progress(i + 1, int(n_frames))
    store.close()  # transforms.json complete for outside readers (nerfstudio)

    info = {
        "generator": "ovnerf.synthetic.generate_room_scene",
        "args": {"seed": int(seed), "width": int(width), "height": int(height),
                 "n_frames": int(n_frames), "layout": layout, "hfov_deg": float(hfov_deg),
                 "ssaa": int(ssaa), "rate_hz": float(rate_hz)},
        "frame": "map (z up, metres); floor z = 0; room interior x∈[-W/2,W/2], y∈[-D/2,D/2], z∈[0,H]",
        "room_size": [room.width, room.depth, room.height],
        "classes": room.classes,
        "camera": {"height": cam_h, "pitch_deg": pitch, "hfov_deg": float(hfov_deg),
                   "base_to_camera": np.round(traj.base_to_camera, 12).tolist()},
        "lights": [{"position": [float(x) for x in p], "intensity": float(i)} for p, i in room.lights],
        "instances": room.instances(),
    }
    atomic_write_bytes(out / ROOM_JSON, json.dumps(info, indent=1).encode())
    return out


def load_room_info(scene_dir) -> dict:
    """The ``room.json`` ground truth of a generated scene (UserError if absent/corrupt)."""
    p = Path(scene_dir) / ROOM_JSON
    try:
        return json.loads(p.read_text())
    except FileNotFoundError:
        raise UserError(f"{p} not found (not a generated demo scene)") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"{p}: unreadable ({exc})") from None


def _check_args(seed, width, height, n_frames, layout, hfov_deg, ssaa, rate_hz) -> None:
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UserError(f"seed must be a non-negative integer, got {seed!r}")
    for name, v, lo, hi in (("width", width, 8, 4096), ("height", height, 8, 4096),
                            ("n_frames", n_frames, 1, 100000), ("ssaa", ssaa, 1, 8)):
        if not isinstance(v, (int, np.integer)) or not lo <= v <= hi:
            raise UserError(f"{name} must be an integer in [{lo}, {hi}], got {v!r}")
    if layout not in LAYOUTS:
        raise UserError(f"unknown layout {layout!r} (known: {', '.join(LAYOUTS)})")
    if not 10.0 <= float(hfov_deg) <= 150.0:
        raise UserError(f"hfov_deg must be in [10, 150], got {hfov_deg}")
    if not float(rate_hz) > 0:
        raise UserError(f"rate_hz must be positive, got {rate_hz}")
