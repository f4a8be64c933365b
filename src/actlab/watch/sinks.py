"""Where recorded steps go besides memory: JSON lines (always available) and TensorBoard (optional).

A sink is any object with ``write(record)`` and ``close()``; ``record`` is
``{"step": int, "layers": {layer: {stat: float}}}`` (the same dicts as ``mon.records``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Protocol


class Sink(Protocol):
    def write(self, record: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


def _finite_or_none(record: dict[str, Any]) -> dict[str, Any]:
    return {"step": record["step"], "layers": {
        name: {k: (v if math.isfinite(v) else None) for k, v in stats.items()}
        for name, stats in record["layers"].items()}}


class JSONLinesSink:
    """One JSON object per recorded step, appended to ``path`` and flushed at once (a crashed run
    keeps every step written). NaN and infinities are written as ``null`` (JSON has neither);
    ``mon.nonfinite_forward`` / ``nonfinite_backward`` say where they first appeared."""

    def __init__(self, path: str | Path, mode: str = "w") -> None:
        if mode not in ("w", "a"):
            raise ValueError(f"JSONLinesSink: mode={mode!r} is invalid; valid: 'w' (overwrite), 'a' (append)")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f = self.path.open(mode, encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        self._f.write(json.dumps(_finite_or_none(record), allow_nan=False) + "\n")
        self._f.flush()

    def close(self) -> None:
        if not self._f.closed:
            self._f.close()


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """The records a :class:`JSONLinesSink` wrote (``None`` for non-finite values)."""
    with Path(path).open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


class TensorBoardSink:
    """Scalars ``<stat>/<layer>`` per recorded step, and at each step a histogram per statistic
    across layers (``<stat>/layers``: how gradient norms or dead fractions spread over depth).

    Needs the ``tensorboard`` package (``pip install actlab[tensorboard]``); raises ImportError
    with that hint otherwise.
    """

    def __init__(self, log_dir: str | Path, histograms: bool = True) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as e:
            raise ImportError("TensorBoardSink needs the tensorboard package: pip install "
                              "'actlab[tensorboard]' (or pip install tensorboard)") from e
        self.writer = SummaryWriter(log_dir=str(log_dir))
        self.histograms = histograms

    def write(self, record: dict[str, Any]) -> None:
        import numpy as np

        step = record["step"]
        per_stat: dict[str, list[float]] = {}
        for layer, stats in record["layers"].items():
            for k, v in stats.items():
                if math.isfinite(v):
                    self.writer.add_scalar(f"{k}/{layer}", v, step)
                    per_stat.setdefault(k, []).append(v)
        if self.histograms:
            for k, vals in per_stat.items():
                if len(vals) > 1:
                    self.writer.add_histogram(f"{k}/layers", np.asarray(vals), step)

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()
