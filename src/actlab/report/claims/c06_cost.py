r"""C06 - sigmoid and tanh are expensive to compute (exponentials) compared with ReLU.

Tutorials 000 ("exponentials are time-consuming; compared with ReLU the performance gap is large"),
001 ("tanh and sigmoid need exponentials, ReLU only max(), so it is simpler and cheaper") and 004
("efficient computation: only comparisons and multiply-adds").

Measured on this machine, one thread, float32, with interleaved repetitions so that load changes hit
all functions alike (each repetition keeps each function's fastest of a few calls; median and
interquartile range of the per-repetition time ratios to relu):

* the activation alone on a large vector: PyTorch forward, PyTorch forward + backward, and NumPy (the
  tutorials' own code: ``np.maximum(0, x)``, ``1 / (1 + np.exp(-x))``, ``np.tanh``);
* where it matters: one SGD training step (forward, backward, update) of a 4-hidden-layer width-64 MLP
  on a minibatch of 64 digits, where the matrix products share the time.

The verdict is about this platform's numbers: the relative cost of ``exp`` depends on the CPU, the
vectorised math library and the framework, so another machine may decide differently.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from actlab import nets
from actlab.report.claim import (
    CONFIRMED,
    DEPENDS,
    INCONCLUSIVE,
    REFUTED,
    Claim,
    Context,
    Evidence,
    Table,
    Verdict,
)
from actlab.sweep.trial import load_data

ACTS = ("relu", "sigmoid", "tanh")
#: an isolated op is "more expensive" at this median time ratio to relu, and it "matters" when a
#: training step is slower by STEP_MATTERS.
OP_SLOWER, STEP_MATTERS = 1.5, 1.2
_TORCH = {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh}
_NUMPY: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "relu": lambda x: np.maximum(0, x), "sigmoid": lambda x: 1 / (1 + np.exp(-x)), "tanh": np.tanh}


def _interleaved(fns: dict[str, Callable[[], Any]], reps: int, inner: int) -> dict[str, list[float]]:
    """Seconds per call of each function: in each of ``reps`` repetitions every function runs ``inner``
    times in turn and keeps its fastest call (the least disturbed by other load, as ``timeit`` advises)."""
    for f in fns.values():  # warm-up
        f()
    out: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(reps):
        for k, f in fns.items():
            best = float("inf")
            for _ in range(inner):
                t = time.perf_counter()
                f()
                best = min(best, time.perf_counter() - t)
            out[k].append(best)
    return out


def _ratios(times: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    base = np.array(times["relu"])
    res = {}
    for k in ACTS[1:]:
        r = np.array(times[k]) / base
        res[k] = {"median": float(np.median(r)), "q25": float(np.percentile(r, 25)),
                  "q75": float(np.percentile(r, 75)), "seconds": float(np.median(times[k])),
                  "relu_seconds": float(np.median(base))}
    return res


def _train_step(act: str, xb: torch.Tensor, yb: torch.Tensor) -> Callable[[], None]:
    m = nets.mlp(xb.shape[1], 10, 4, 64, act, seed=0)
    opt = torch.optim.SGD(m.parameters(), lr=0.01)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(m(xb), yb).backward()
        opt.step()

    return step


def measure(ctx: Context) -> Evidence:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        n = ctx.pick(1 << 18, 1 << 20, 1 << 12)
        reps = ctx.pick(9, 31, 3)
        g = torch.Generator().manual_seed(0)
        x = torch.randn(n, generator=g) * 3
        xg = x.clone().requires_grad_(True)
        ones = torch.ones_like(x)
        xn = x.numpy().copy()

        def fwd_bwd(f: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[], None]:
            def run() -> None:
                xg.grad = None
                f(xg).backward(ones)
            return run

        with torch.no_grad():
            fwd = _interleaved({a: (lambda f=_TORCH[a]: f(x)) for a in ACTS}, reps, 5)
        bwd = _interleaved({a: fwd_bwd(_TORCH[a]) for a in ACTS}, reps, 3)
        npy = _interleaved({a: (lambda f=_NUMPY[a]: f(xn)) for a in ACTS}, reps, 3)
        ds = load_data("digits", True, 0, 0.25)
        xb, yb = ds.x_train[:64], ds.y_train[:64]
        steps = _interleaved({a: _train_step(a, xb, yb) for a in ACTS}, reps, ctx.pick(10, 20, 2))
    finally:
        torch.set_num_threads(threads)
    settings = {"torch forward": fwd, "torch forward+backward": bwd, "numpy forward": npy,
                "MLP training step": steps}
    numbers: dict[str, Any] = {name: _ratios(t) for name, t in settings.items()}
    numbers.update({"op_slower": OP_SLOWER, "step_matters": STEP_MATTERS, "n": n, "reps": reps})

    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.3))
    names = list(settings)
    xs = np.arange(len(names))
    for k, act in enumerate(ACTS[1:]):
        med = [numbers[s][act]["median"] for s in names]
        lo = [med[i] - numbers[s][act]["q25"] for i, s in enumerate(names)]
        hi = [numbers[s][act]["q75"] - med[i] for i, s in enumerate(names)]
        ax.bar(xs + (k - 0.5) * 0.38, med, 0.38, yerr=[lo, hi], capsize=3, color=f"C{k + 1}", label=act)
    ax.axhline(1.0, color="k", lw=0.8)
    ax.axhline(OP_SLOWER, color="k", lw=0.6, ls=":")
    ax.axhline(STEP_MATTERS, color="k", lw=0.6, ls="--")
    ax.set_xticks(xs, names, fontsize=8)
    ax.set(yscale="log", ylabel="time / relu's time (log)",
           title=f"cost relative to relu (1 thread, {n} floats; bars: median, IQR)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    figure = ctx.figure(fig, "Time of sigmoid and tanh divided by relu's, measured interleaved on this "
                             "machine "
                             "(median and interquartile range over repetitions). 1 = as cheap as relu; "
                             "dotted: "
                             f"{OP_SLOWER}x ('more expensive' for an isolated op), dashed: {STEP_MATTERS}x "
                             f"(a "
                             "training step noticeably slower). The isolated op and a whole training step "
                             "can "
                             "tell different stories.")
    rows = [[s, a, f"{numbers[s][a]['median']:.2f} [{numbers[s][a]['q25']:.2f}, {numbers[s][a]['q75']:.2f}]",
             f"{numbers[s][a]['seconds'] * 1e6:.0f}", f"{numbers[s][a]['relu_seconds'] * 1e6:.0f}"]
            for s in names for a in ACTS[1:]]
    table = Table(["setting", "activation", "time ratio to relu (median [IQR])", "us per call", "relu us"],
                  rows,
                  f"float32, one thread, {reps} interleaved repetitions; vectors of {n} values; the training "
                  f"step "
                  "is a 4x64 MLP on 64 digits.")
    import platform

    return Evidence(numbers, {"n": n, "reps": reps, "threads": 1, "torch": torch.__version__,
                              "numpy": np.__version__, "machine": platform.machine(),
                              "processor": platform.processor()}, [figure], [table])


def _verdict(op_min: float, step_min: float, lo: float, hi: float) -> str:
    if op_min < 1.2:
        return REFUTED
    return CONFIRMED if op_min >= lo and step_min >= hi else DEPENDS


def decide(numbers: dict[str, Any], quick: bool) -> Verdict:
    """On the torch forward ratios (and the training step): confirmed if both exceed ``op_slower`` and
    the step ratios ``step_matters``; depends if the ops are slower but the step is not; refuted if the
    ops are less than 1.2x relu's; inconclusive (quick) when the interquartile ranges allow two verdicts."""
    op, step = numbers["torch forward"], numbers["MLP training step"]
    lo, hi = numbers["op_slower"], numbers["step_matters"]
    fmt = "; ".join(f"{s}: " + ", ".join(f"{a} {numbers[s][a]['median']:.2f}x" for a in ("sigmoid", "tanh"))
                    for s in ("torch forward", "torch forward+backward", "numpy forward",
                              "MLP training step"))
    op_min = min(r["median"] for r in op.values())
    step_min = min(r["median"] for r in step.values())
    low = _verdict(min(r["q25"] for r in op.values()), min(r["q25"] for r in step.values()), lo, hi)
    high = _verdict(min(r["q75"] for r in op.values()), min(r["q75"] for r in step.values()), lo, hi)
    if quick and low != high:
        return Verdict(INCONCLUSIVE, f"The timing spread allows '{low}' and '{high}' ({fmt}); the full run "
                                     "repeats more.")
    v = _verdict(op_min, step_min, lo, hi)
    if v == REFUTED:
        return Verdict(REFUTED, f"On this machine sigmoid/tanh are not markedly dearer than relu ({fmt}).")
    if v == CONFIRMED:
        return Verdict(CONFIRMED, f"sigmoid/tanh cost more than relu alone and in a training step ({fmt}).")
    return Verdict(DEPENDS, f"Depends on what is timed: the isolated torch ops are {op_min:.2f}x relu's or "
                            f"more, but a whole training step only {step_min:.2f}x, as the matrix products "
                            f"dominate ({fmt}). Platform-specific numbers.")


CLAIM = Claim(
    id="C06",
    title="sigmoid/tanh cost more than relu",
    rule=f"Time sigmoid and tanh against relu on this machine (1 thread, float32, interleaved repetitions): "
         f"torch forward, forward+backward and numpy on a 262k vector, and an MLP training step. Confirmed "
         f"if "
         f"the "
         f"torch-forward median ratios are >= {OP_SLOWER} and the training-step ratios >= {STEP_MATTERS}; "
         "depends (isolated op vs network) if the ops are >= 1.2x but the step is below "
         f"{STEP_MATTERS}x or the op below {OP_SLOWER}x; refuted if an op is < 1.2x relu's; inconclusive in "
         "quick mode when the verdicts at the lower and upper quartiles differ.",
    measure=measure,
    decide=decide,
)
