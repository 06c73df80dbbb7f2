"""How long the phases of a batch take: the tutorial pace, a multiple of it, or as fast as possible."""

from __future__ import annotations

import math
from dataclasses import dataclass

WINDOW_S = 24 * 3600.0


@dataclass(frozen=True)
class Pace:
    """How long each phase takes; ``factor`` None means as fast as possible.

    At factor 1 (the tutorial pace) validating and finalizing take 1 s each and a line 40 ms, with
    the whole ``in_progress`` phase capped at 20 s, so 100 lines take about 6 s.

    Examples
    --------
    >>> Pace.parse("max").per_line(100), Pace.parse(None).per_line(100)
    (0.0, 0.04)
    >>> Pace.parse(2.0).phase
    0.5
    """

    factor: float | None

    @classmethod
    def parse(cls, speed: float | str | None) -> Pace:
        """The pace for a ``speed`` option: None (tutorial), a positive float, or ``"max"``."""
        if speed is None:
            return cls(1.0)
        if isinstance(speed, str):
            if speed.strip().lower() == "max":
                return cls(None)
            speed = float(speed)
        if not math.isfinite(speed) or speed <= 0:
            raise ValueError(f"speed must be a positive number or 'max', got {speed!r}")
        return cls(float(speed))

    def _scale(self, seconds: float) -> float:
        return 0.0 if self.factor is None else seconds / self.factor

    @property
    def phase(self) -> float:
        """Seconds spent in ``validating`` and in ``finalizing``."""
        return self._scale(1.0)

    def per_line(self, total: int) -> float:
        """Seconds per line of a ``total``-line batch."""
        return self._scale(min(0.04, 20.0 / max(total, 1)))

    @property
    def window(self) -> float:
        """The 24 h completion window, scaled."""
        return WINDOW_S if self.factor is None else WINDOW_S / self.factor
