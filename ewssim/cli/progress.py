"""A small progress bar on stderr, shown only when stderr is a terminal (no dependency)."""

from __future__ import annotations

import sys
import time


class Progress:
    """``with Progress(total, "layers") as p: p.update(name)`` -- rate and ETA included."""

    def __init__(self, total: int, unit: str = "items", stream=None, enabled: bool | None = None):
        self.total = max(int(total), 0)
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.done = 0
        self.t0 = time.perf_counter()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()

    def __call__(self, done: int, total: int, label: str = "") -> None:
        """Callback form used by the API: ``progress(done, total, label)``."""
        self.total = total
        self.done = done
        self._draw(label)

    def update(self, label: str = "", step: int = 1) -> None:
        self.done += step
        self._draw(label)

    def _draw(self, label: str) -> None:
        if not self.enabled:
            return
        el = time.perf_counter() - self.t0
        rate = self.done / el if el > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        width = 24
        fill = int(width * self.done / self.total) if self.total else width
        bar = "#" * fill + "." * (width - fill)
        text = (f"\r[{bar}] {self.done}/{self.total} {self.unit} "
                f"{rate:.1f}/s ETA {eta:.0f}s {label[:30]:<30}")
        self.stream.write(text)
        self.stream.flush()
