"""Per-epoch layer statistics for trials with ``watch=true``, from :mod:`actlab.watch`.

Each evaluated epoch records, per watched layer, the medians over the last recorded training steps
(``actlab.watch``'s window) of: ``grad_norm`` (gradient of the layer's output), ``weight_grad_norm``,
``dead_fraction`` (units that output exactly 0 for every sample over the window), ``saturated_fraction``
(inputs where ``|f'| < tau * sup|f'|``), ``zero_fraction``, ``mean``, ``std``; plus the names of
watch's verdicts (vanishing, exploding, dead_units, saturation, ...).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch
from torch import nn

_STATS = ("grad_norm", "weight_grad_norm", "dead_fraction", "saturated_fraction", "zero_fraction", "mean",
          "std")


class Watcher:
    """Watches a model trained with ``optimizer`` (a step ends at ``optimizer.step()``)."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        from actlab.watch import watch

        self.monitor = watch(model, optimizer=optimizer)

    def epoch_stats(self) -> dict[str, Any]:
        s = self.monitor.summary(theory=False)
        layers = []
        for layer in s.layers:
            d = dataclasses.asdict(layer) if dataclasses.is_dataclass(layer) else dict(vars(layer))
            row = {"name": d.get("name"), "kind": d.get("kind"), "activation": d.get("activation")}
            for k in _STATS:
                v = d.get(k)
                row[k] = None if v is None or (isinstance(v, float) and not math.isfinite(v)) else float(v)
            layers.append(row)
        return {"layers": layers, "verdicts": [getattr(v, "name", str(v)) for v in s.verdicts]}

    def close(self) -> None:
        self.monitor.close()
