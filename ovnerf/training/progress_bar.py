"""A tqdm progress bar driven by :class:`ovnerf.training.trainer.Progress` callbacks.

``tqdm_callback(bar, prefix="", show_messages=True)`` returns ``callback(Progress)`` for
``Trainer.train``: it moves the bar to the completed iteration, shows stage / total loss / batch
PSNR as the postfix and writes event messages (stage changes, grid upsampling, CSE) above the bar.
"""
from __future__ import annotations

import math
from typing import Callable


def tqdm_callback(bar, prefix: str = "", show_messages: bool = True) -> Callable:
    def callback(p) -> None:
        bar.n = p.iteration
        post = {"stage": p.stage, "loss": f"{p.losses.get('total', math.nan):.3f}"}
        if math.isfinite(p.psnr):
            post["psnr"] = f"{p.psnr:.1f}"
        bar.set_postfix(post, refresh=False)
        if p.message and show_messages:
            bar.write(f"  {prefix}{p.message}")
        bar.refresh()
    return callback
