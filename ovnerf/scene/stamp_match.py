"""Pair side-channel images (depth, labels) with colour images by header stamp, without ROS.

:class:`StampedBuffer` holds values keyed by stamp (seconds). A colour image at stamp ``t``
takes the entry nearest to ``t`` with ``|stamp − t| ≤ tolerance`` (ties: the earlier one).
Colour stamps are processed in increasing order, so on :meth:`take` every entry older than
``t − tolerance`` can never match again and is dropped. :meth:`ready` says whether the answer
for ``t`` is final: a match is buffered, or an entry newer than ``t + tolerance`` has arrived
(the side stream has moved past ``t``: its image for ``t`` was lost). ``capacity`` bounds
memory: the oldest stamps go first. Lookups are O(log n) (sorted stamps + bisect). Comparisons
allow 1 ns of slack (``EPS``) for the rounding of float-second stamps.
"""
from __future__ import annotations

import bisect

EPS = 1e-9


class StampedBuffer:
    def __init__(self, capacity: int | None = None):
        self.capacity = capacity
        self._stamps: list[float] = []     # sorted
        self._values: dict[float, object] = {}

    def __len__(self) -> int:
        return len(self._stamps)

    def put(self, stamp: float, value) -> None:
        stamp = float(stamp)
        if stamp not in self._values:
            bisect.insort(self._stamps, stamp)
        self._values[stamp] = value
        while self.capacity is not None and len(self._stamps) > self.capacity:
            del self._values[self._stamps.pop(0)]

    def _nearest(self, stamp: float, tolerance: float) -> float | None:
        i = bisect.bisect_left(self._stamps, stamp)
        cands = [s for s in self._stamps[max(i - 1, 0):i + 1] if abs(s - stamp) <= tolerance + EPS]
        return min(cands, key=lambda s: (abs(s - stamp), s)) if cands else None

    def ready(self, stamp: float, tolerance: float) -> bool:
        """True when :meth:`take` at ``stamp`` gives its final answer (a match, or none will come)."""
        return (self._nearest(stamp, tolerance) is not None
                or (bool(self._stamps) and self._stamps[-1] > stamp + tolerance + EPS))

    def take(self, stamp: float, tolerance: float):
        """The value nearest to ``stamp`` within ``tolerance`` (removed), or None; entries older
        than ``stamp − tolerance`` are dropped."""
        key = self._nearest(stamp, tolerance)
        value = None
        if key is not None:
            self._stamps.remove(key)
            value = self._values.pop(key)
        cut = bisect.bisect_left(self._stamps, stamp - tolerance - EPS)
        for s in self._stamps[:cut]:
            del self._values[s]
        del self._stamps[:cut]
        return value
