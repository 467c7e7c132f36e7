"""Peak resident set size of this process while a ``with`` block runs (sampled in a thread;
``/proc/self/statm``), for the benchmarks: ``base`` / ``peak`` in bytes, ``peak_mb`` in MiB."""
from __future__ import annotations

import os
import threading
import time


class PeakRSS:
    def __init__(self, period: float = 0.005):
        self.period = period
        self.page = os.sysconf("SC_PAGE_SIZE")
        self._stop = threading.Event()
        self.base = self.peak = 0
        self.peak_mb = 0.0

    def rss(self) -> int:
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * self.page
        except OSError:
            return 0

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(self.period)

    def __enter__(self):
        self.base = self.peak = self.rss()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, self.rss())
        self.peak_mb = self.peak / 2 ** 20
