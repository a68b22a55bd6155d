"""Recent latencies per provider, and the percentile a `hedge_after="p95"` call waits for.

>>> session.latencies.p95("nvidia-nim")        # doctest: +SKIP
4.81
>>> session.latencies.snapshot()               # doctest: +SKIP
{'nvidia-nim': {'n': 200, 'p50': 2.9, 'p95': 4.81}, 'nvidia-gateway': {...}}
"""

from __future__ import annotations

import math
import threading
from collections import deque

__all__ = ["MIN_SAMPLES", "WINDOW", "LatencyTracker"]

#: fewer samples than this and `p95()` is None: a `hedge_after="p95"` call does not hedge
MIN_SAMPLES = 20
#: how many of a provider's most recent samples are kept
WINDOW = 200


class LatencyTracker:
    """A bounded ring of each provider's most recent attempt latencies, in seconds.

    The engine feeds it the elapsed time of every attempt that answered, and — as a lower
    bound of the true latency — of attempts that timed out and of primaries cancelled
    because a hedge answered first. Without those lower bounds, hedging would hide the
    very tail it cuts, and the learned p95 would creep down call after call.

    The engine writes on the Session's loop thread while a notebook reads from its own, so
    every access holds a lock.
    """

    def __init__(self, *, window: int = WINDOW, min_samples: int = MIN_SAMPLES) -> None:
        if window < 1 or min_samples < 1:
            raise ValueError("window and min_samples must be at least 1")
        self.window = window
        self.min_samples = min_samples
        self._samples: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def record(self, provider: str, seconds: float) -> None:
        """Add one sample for `provider` (the oldest drops out past `window`)."""
        if not math.isfinite(seconds) or seconds < 0:
            return
        with self._lock:
            ring = self._samples.get(provider)
            if ring is None:
                ring = self._samples[provider] = deque(maxlen=self.window)
            ring.append(seconds)

    def samples(self, provider: str) -> list[float]:
        """A copy of `provider`'s recent samples, oldest first."""
        with self._lock:
            return list(self._samples.get(provider, ()))

    def percentile(self, provider: str, q: float) -> float | None:
        """The `q`-th percentile (0–100, nearest rank) of `provider`'s recent samples, or
        None with fewer than `min_samples` of them."""
        if not 0 <= q <= 100:
            raise ValueError("q must be between 0 and 100")
        values = sorted(self.samples(provider))
        if len(values) < self.min_samples:
            return None
        rank = max(1, math.ceil(q / 100 * len(values)))
        return values[rank - 1]

    def p95(self, provider: str) -> float | None:
        """What `hedge_after="p95"` waits for on `provider`; None (no hedge) until
        `min_samples` latencies of it were seen."""
        return self.percentile(provider, 95)

    def snapshot(self) -> dict[str, dict[str, float | int | None]]:
        """Per provider: the number of samples, p50 and p95 (None below `min_samples`)."""
        with self._lock:
            names = sorted(self._samples)
        return {
            name: {
                "n": len(self.samples(name)),
                "p50": self.percentile(name, 50),
                "p95": self.p95(name),
            }
            for name in names
        }

    def clear(self) -> None:
        """Forget every sample (e.g. after the network changed)."""
        with self._lock:
            self._samples.clear()

    def __repr__(self) -> str:
        parts = []
        for name, stats in self.snapshot().items():
            p95 = stats["p95"]
            shown = "-" if p95 is None else f"{p95:.3f} s"
            parts.append(f"{name}: n={stats['n']}, p95={shown}")
        return f"<LatencyTracker {'; '.join(parts) or 'empty'}>"
