"""actlab.watch: which layer's gradients vanish or explode, which units are dead or saturated, and
where NaN/Inf first appears - for any PyTorch model, at a few percent of the step time.

    >>> with actlab.watch(model) as mon:
    ...     for x, y in loader:
    ...         opt.zero_grad(); loss_fn(model(x), y).backward(); opt.step()
    >>> print(mon.summary())
    >>> mon.plot("watch.png")

Watched: every actlab catalog activation module and every ``torch.nn`` activation module (through
its catalog entry), and every module with parameters of its own. Activations called as functions
inside ``forward`` (``F.relu(x)``) cannot be hooked: the summary lists the linear/conv layers with
no visible activation after them, and :func:`modularize` turns such calls into modules.

Steps: by default each forward of ``model`` with gradients enabled begins a step (evaluation under
``torch.no_grad()`` is ignored). For models called several times per step, pass the optimizer
(``watch(model, optimizer=opt)``: a step ends at ``opt.step()``) or ``step="manual"`` and call
``mon.step()``. ``torch.compile``: not supported - the hooks raise :class:`WatchCompileError` rather
than record wrong numbers; watch the eager model.
"""

from __future__ import annotations

import inspect
import sys
import types
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from actlab.watch.layers import modularize
from actlab.watch.monitor import (
    DEFAULT_SAMPLE,
    DEFAULT_TAU,
    DEFAULT_WINDOW,
    LayerInfo,
    Monitor,
    WatchCompileError,
)
from actlab.watch.sinks import JSONLinesSink, TensorBoardSink, read_jsonl
from actlab.watch.summary import LayerSummary, Summary
from actlab.watch.verdicts import (
    DEAD_FRACTION,
    EXPLODING_RATIO,
    NONZERO_MEAN_RATIO,
    SATURATED_FRACTION,
    VANISHING_RATIO,
    Verdict,
)

__all__ = [
    "DEAD_FRACTION",
    "EXPLODING_RATIO",
    "NONZERO_MEAN_RATIO",
    "SATURATED_FRACTION",
    "VANISHING_RATIO",
    "JSONLinesSink",
    "LayerInfo",
    "LayerSummary",
    "Monitor",
    "Summary",
    "TensorBoardSink",
    "Verdict",
    "WatchCompileError",
    "modularize",
    "read_jsonl",
    "watch",
]


def watch(
    model: nn.Module,
    *,
    every: int = 1,
    window: int = DEFAULT_WINDOW,
    step: str = "forward",
    optimizer: torch.optim.Optimizer | None = None,
    saturation_threshold: float = DEFAULT_TAU,
    sample: int | None = DEFAULT_SAMPLE,
    jsonl: str | Path | None = None,
    tensorboard: str | Path | None = None,
    sinks: Iterable[Any] = (),
) -> Monitor:
    """Start watching ``model``; use as a context manager or call ``mon.close()`` when done.

    Args:
        every: record one step in ``every`` (the others cost a flag check per hook).
        window: recorded steps over which a unit must output exactly 0 for every sample to count
            as dead; also the number of last recorded steps the verdicts are taken over.
        step: ``"forward"`` (each forward of ``model`` with grad enabled begins a step),
            ``"optimizer"`` (steps end at ``optimizer.step()``; implied by ``optimizer=``) or
            ``"manual"`` (call ``mon.step()`` after each training step).
        saturation_threshold: tau; a unit's input is saturated where ``|f'(x)| < tau * sup|f'|``
            (f' the catalog's closed form).
        sample: at most this many elements (the first whole samples of the batch, every unit) per
            call for the mean, std, zero and saturated fractions; ``None``: all. Dead units,
            NaN/Inf and gradient norms always use every element.
        jsonl: write each recorded step as one JSON line to this file.
        tensorboard: write scalars and histograms to this log directory (needs ``tensorboard``).
        sinks: further objects with ``write(record)`` and ``close()``.

    Returns:
        the :class:`Monitor`: ``summary()``, ``plot(path)``, ``records``, ``history(stat)``.
    """
    all_sinks = list(sinks)
    if jsonl is not None:
        all_sinks.append(JSONLinesSink(jsonl))
    if tensorboard is not None:
        all_sinks.append(TensorBoardSink(tensorboard))
    try:
        return Monitor(model, every=every, window=window, step=step, optimizer=optimizer,
                       saturation_threshold=saturation_threshold, sample=sample, sinks=all_sinks)
    except BaseException:
        for s in all_sinks:
            s.close()
        raise


class _CallableModule(types.ModuleType):
    """``actlab.watch`` is both this package and the :func:`watch` function: ``actlab.watch(model)``."""

    def __call__(self, model: nn.Module, **kwargs: Any) -> Monitor:
        return watch(model, **kwargs)


# call tips (inspect.signature, IDEs, Jupyter) show watch's own options and docstring
_CallableModule.__call__.__doc__ = watch.__doc__
_CallableModule.__call__.__signature__ = inspect.signature(watch).replace(  # type: ignore[attr-defined]
    parameters=[inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY),
                *inspect.signature(watch).parameters.values()])
sys.modules[__name__].__class__ = _CallableModule
