r"""Annealing the noise of every noisy unit in a model (Gulcehre et al. 2016, section 6).

The paper trains with much noise and anneals it away, so that SGD first explores (noisy
gradients through saturated units) and then settles on the deterministic network. One
:class:`NoiseAnnealer` drives the ``c`` of every :class:`~actlab.noisy.NoisyActivation` in a model
from a schedule, one ``step()`` per optimiser step; its state (the step count, the schedule) is in
``state_dict()``, so a resumed training continues the schedule. The paper's c from 30 to 0.5:

    >>> annealer = actlab.NoiseAnnealer(model, "exponential", start=30.0, end=0.5, steps=10_000)
    >>> for batch in data:
    ...     loss.backward(); opt.step(); annealer.step()
    >>> annealer.level        # the current c (also annealer.levels(): per module)

Schedules map the step t (0, 1, ...) to a level; after ``steps`` they stay at ``end``:

* ``constant(value)``
* ``linear(start, end, steps)``: :math:`s + (e - s)\,t/T`
* ``exponential(start, end, steps)``: :math:`s\,(e/s)^{t/T}` (geometric; needs s, e > 0)
* ``cosine(start, end, steps)``: :math:`e + (s - e)(1 + \cos(\pi t/T))/2`
* ``inverse_sqrt(start, end, steps, warmup=1)``: :math:`\max(e, s\,\sqrt{w/(t + w)})`, reaching
  ``end`` no later than ``steps`` (then held)
* ``piecewise(points, interpolation="linear")``: through ``[(t0, v0), (t1, v1), ...]`` (``"step"``:
  hold each value until the next point)
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from torch import nn

from actlab.noisy.modules import NoisyActivation


@dataclass(frozen=True)
class Schedule:
    """A noise schedule: ``schedule(t)`` is the level at step t (t = 0, 1, ...).

    Build one with :func:`schedule` (``schedule("cosine", start=1.0, end=0.0, steps=500)``);
    ``config()`` / :func:`schedule` round-trip it (that is what ``NoiseAnnealer.state_dict`` stores).
    """

    kind: str
    start: float = 0.0
    end: float = 0.0
    steps: int = 1
    warmup: int = 1
    points: tuple[tuple[float, float], ...] = field(default_factory=tuple)
    interpolation: str = "linear"

    def __call__(self, t: int) -> float:
        if t < 0:
            raise ValueError(f"schedule step t={t} is invalid; valid: t >= 0")
        if self.kind == "constant":
            return self.start
        if self.kind == "piecewise":
            return self._piecewise(t)
        frac = min(t, self.steps) / self.steps
        s, e = self.start, self.end
        if self.kind == "linear":
            return s + (e - s) * frac
        if self.kind == "exponential":
            return s * (e / s) ** frac if frac < 1 else e
        if self.kind == "cosine":
            return e + (s - e) * 0.5 * (1.0 + math.cos(math.pi * frac))
        # inverse_sqrt: decays like 1/sqrt(t); held at end once reached (and from steps on)
        if t >= self.steps:
            return e
        v = s * math.sqrt(self.warmup / (t + self.warmup))
        return max(v, e) if s >= e else min(v, e)

    def _piecewise(self, t: int) -> float:
        pts = self.points
        if t <= pts[0][0]:
            return pts[0][1]
        for (t0, v0), (t1, v1) in itertools.pairwise(pts):
            if t < t1:
                if self.interpolation == "step":
                    return v0
                return v0 + (v1 - v0) * (t - t0) / (t1 - t0)
        return pts[-1][1]

    def config(self) -> dict[str, Any]:
        d = asdict(self)
        d["points"] = [list(p) for p in self.points]
        return d

    def __repr__(self) -> str:
        if self.kind == "constant":
            return f"constant({self.start:g})"
        if self.kind == "piecewise":
            return f"piecewise({[tuple(p) for p in self.points]}, {self.interpolation!r})"
        extra = f", warmup={self.warmup}" if self.kind == "inverse_sqrt" else ""
        return f"{self.kind}(start={self.start:g}, end={self.end:g}, steps={self.steps}{extra})"


SCHEDULES = ("constant", "linear", "exponential", "cosine", "inverse_sqrt", "piecewise")


def _number(name: str, value: Any, kind: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{kind} schedule: {name}={value!r} is invalid; valid: a finite number")
    return float(value)


def schedule(kind: str | Schedule | dict[str, Any], **kw: Any) -> Schedule:
    """Build a schedule: ``schedule("linear", start=1.0, end=0.0, steps=1000)``; also accepts a
    :class:`Schedule` (returned as is) or a ``Schedule.config()`` dict."""
    if isinstance(kind, Schedule):
        if kw:
            raise ValueError("schedule: pass keyword arguments with a schedule name, not a Schedule")
        return kind
    if isinstance(kind, dict):
        cfg = {**kind, **kw}
        kind = cfg.pop("kind")
        kw = cfg
    if kind not in SCHEDULES:
        raise ValueError(f"unknown schedule {kind!r}; valid: {', '.join(SCHEDULES)}")
    if kind == "constant":
        allowed = {"value", "start", "end", "steps", "warmup", "points", "interpolation"}
        _check_keys(kind, kw, allowed)
        value = kw.get("value", kw.get("start"))
        if value is None:
            raise ValueError("constant schedule: value is missing; e.g. schedule('constant', value=0.5)")
        return Schedule("constant", start=_level(kind, "value", value))
    if kind == "piecewise":
        _check_keys(kind, kw, {"points", "interpolation", "start", "end", "steps", "warmup"})
        return _piecewise(kw.get("points"), kw.get("interpolation", "linear"))
    _check_keys(kind, kw, {"start", "end", "steps", "warmup", "points", "interpolation"})
    missing = [k for k in ("start", "end", "steps") if k not in kw]
    if missing:
        raise ValueError(f"{kind} schedule: {', '.join(missing)} missing; "
                         f"e.g. schedule({kind!r}, start=30.0, end=0.5, steps=10000)")
    start, end = _level(kind, "start", kw["start"]), _level(kind, "end", kw["end"])
    steps = kw["steps"]
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"{kind} schedule: steps={steps!r} is invalid; valid: an integer >= 1")
    if kind == "exponential" and (start <= 0 or end <= 0):
        raise ValueError(f"exponential schedule: start={start:g}, end={end:g} is invalid; valid: "
                         "both > 0 (use 'linear' or 'cosine' to reach 0)")
    warmup = kw.get("warmup", 1)
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 1:
        raise ValueError(f"{kind} schedule: warmup={warmup!r} is invalid; valid: an integer >= 1")
    return Schedule(kind, start=start, end=end, steps=steps, warmup=warmup)


_build = schedule  # (NoiseAnnealer's argument is also called schedule)


def _check_keys(kind: str, kw: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(kw) - allowed)
    if unknown:
        raise ValueError(f"{kind} schedule: unknown argument {unknown[0]!r}")


def _level(kind: str, name: str, value: Any) -> float:
    v = _number(name, value, kind)
    if v < 0:
        raise ValueError(f"{kind} schedule: {name}={v:g} is invalid; valid: a noise level >= 0")
    return v


def _piecewise(points: Any, interpolation: str) -> Schedule:
    if interpolation not in ("linear", "step"):
        raise ValueError(f"piecewise schedule: interpolation={interpolation!r} is invalid; "
                         "valid: 'linear', 'step'")
    if not isinstance(points, Sequence) or len(points) < 1:
        raise ValueError("piecewise schedule: points is missing; e.g. points=[(0, 30.0), (1000, 0.5)]")
    pts = []
    for item in points:
        if not isinstance(item, Sequence) or len(item) != 2:
            raise ValueError(f"piecewise schedule: point {item!r} is invalid; valid: (step, level)")
        pts.append((_number("step", item[0], "piecewise"), _level("piecewise", "level", item[1])))
    if any(b[0] <= a[0] for a, b in itertools.pairwise(pts)) or pts[0][0] < 0:
        raise ValueError("piecewise schedule: steps must start at >= 0 and increase strictly")
    return Schedule("piecewise", points=tuple(pts), interpolation=interpolation)


def noisy_units(model: nn.Module) -> Iterator[tuple[str, NoisyActivation]]:
    """(name, module) of every noisy unit in ``model`` (the model itself included)."""
    for name, m in model.named_modules():
        if isinstance(m, NoisyActivation):
            yield name, m


class NoiseAnnealer:
    """Drives ``c`` of every noisy unit in ``model`` along a schedule.

    Args:
        model: any ``nn.Module``; its noisy units are found at construction (add units later:
            construct a new annealer or call :meth:`refresh`).
        schedule: a :class:`Schedule`, a schedule name with its arguments as keywords, a
            ``Schedule.config()`` dict, or any callable ``t -> level``.
        relative: multiply each unit's own initial ``c`` by the schedule's value (schedule from 1
            to 0, say) instead of setting ``c`` to it.
        filter: optional ``(name, module) -> bool`` choosing which units to drive.

    The level of step 0 is applied at construction; ``step()`` advances one step and applies it.
    """

    def __init__(self, model: nn.Module,
                 schedule: Schedule | str | dict[str, Any] | Callable[[int], float], *,
                 relative: bool = False, filter: Callable[[str, NoisyActivation], bool] | None = None,
                 **schedule_args: Any) -> None:
        if isinstance(schedule, (str, dict, Schedule)):
            self.schedule: Callable[[int], float] = _build(schedule, **schedule_args)
        elif callable(schedule):
            if schedule_args:
                raise ValueError("NoiseAnnealer: keyword arguments go with a schedule name, "
                                 f"not with {schedule!r}")
            self.schedule = schedule
        else:
            raise TypeError(f"NoiseAnnealer: schedule must be a schedule name, a Schedule or a "
                            f"callable, got {type(schedule).__name__}")
        self.model = model
        self.relative = relative
        self.filter = filter
        self.t = 0
        self.refresh()
        if not self.units:
            raise ValueError(f"NoiseAnnealer: {type(model).__name__} has no noisy units "
                             "(actlab.get('nan_hard_tanh'), ...); nothing to anneal")
        self.apply()

    def refresh(self) -> None:
        """Re-scan the model for noisy units (their base c: their current c)."""
        self.units = {n: m for n, m in noisy_units(self.model)
                      if self.filter is None or self.filter(n, m)}
        self.base = {n: m.c for n, m in self.units.items()}

    @property
    def level(self) -> float:
        """The schedule's value at the current step (c itself unless ``relative``)."""
        return float(self.schedule(self.t))

    def levels(self) -> dict[str, float]:
        """The current c of every driven unit, by module name (for logging)."""
        return {n: m.c for n, m in self.units.items()}

    def apply(self) -> float:
        level = self.level
        for n, m in self.units.items():
            m.c = level * self.base[n] if self.relative else level
        return level

    def step(self) -> float:
        """Advance one step and set the new level; returns it."""
        self.t += 1
        return self.apply()

    def state_dict(self) -> dict[str, Any]:
        sched = self.schedule.config() if isinstance(self.schedule, Schedule) else None
        return {"t": self.t, "schedule": sched, "relative": self.relative, "base": dict(self.base)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a saved state: the step, the schedule (when it was a Schedule) and the
        base levels; the level of that step is applied."""
        if state.get("schedule") is not None:
            self.schedule = _build(state["schedule"])
        self.t = int(state["t"])
        self.relative = bool(state.get("relative", self.relative))
        saved_base = state.get("base", {})
        self.base = {n: saved_base.get(n, b) for n, b in self.base.items()}
        self.apply()

    def __repr__(self) -> str:
        return (f"NoiseAnnealer({len(self.units)} units, {self.schedule!r}, t={self.t}, "
                f"level={self.level:g})")
