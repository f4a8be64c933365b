"""actlab.watch overhead: training step time with the monitor against without, side by side.

    .venv/bin/python benchmarks/bench_watch.py                 # all three models, 1 thread
    .venv/bin/python benchmarks/bench_watch.py --model relu --rounds 30 --threads 2

One model per kind runs six ways: unwatched, watched recording every step, watched recording every
10th step, unwatched under ``torch.autograd.detect_anomaly(check_nan=True)`` (the usual way to find
where NaN appears; it records every forward's stack and checks every backward output), unwatched
once more as a control (its ratio to the unwatched run would be 1.000 on a quiet machine, and how
far it lands from 1.000 shows the resolution of the run), and the *floor*: bare hooks that compute
the same reductions as the monitor at every step (per-unit extremes, the row sample's sum, norm,
zero and saturated counts, backward-signal norms, one ``_foreach_norm`` over the weight gradients,
one host read per step) and nothing else - no names, records or verdicts. The floor is what the
statistics themselves cost; every step's distance above it is the monitor's bookkeeping. All six use
the same model, optimizer and batch: a separate model per variant put its tensors elsewhere in
memory, and that alone moved the ratios by up to +-4% from one process to the next (even the nearly
idle every-10 monitor measured 1.045x once). Rounds run every variant for ``--steps`` SGD steps in
turn (round-robin), in a shuffled order per round, so load on a shared machine hits all variants
alike. A watched variant attaches a fresh monitor before its steps and closes it after them, the
closing timed (it copies the last step to the host and folds the records), after one untimed step (a
monitor's first recorded step learns the layers; every variant gets the same untimed step). Python's
garbage collector runs (untimed) before each timed block, so no variant pays for collecting
another's garbage. The report gives the median over rounds of each round's ratio to the unwatched
run (paired), in process CPU time and in wall time, and for the goals a 95% bootstrap interval of
that median over the rounds (the goal is met when the whole interval lies below it, missed when the
whole interval lies above it, undecided otherwise). The interval covers the spread between the
rounds of one run, not the drift between runs on a shared machine (which is larger: the README lists
runs). Absolute times drift; the ratios are the result.

Goal (issue 4, part 5): 8-layer 512-wide ReLU MLP, batch 256, SGD, CPU: every step <= 1.05x,
every 10 steps <= 1.015x. The sigmoid MLP and the CNN are reported alongside.
"""

from __future__ import annotations

import argparse
import gc
import math
import random
import statistics
import time
import warnings
from collections.abc import Callable
from contextlib import nullcontext

import torch
from torch import nn

import actlab.nets as nets
from actlab.sweep._malloc import tune_malloc
from actlab.watch import watch
from actlab.watch.layers import activation_info, is_activation
from actlab.watch.monitor import DEFAULT_SAMPLE, DEFAULT_TAU, _rows

GOALS = {1: 1.05, 10: 1.015}


def make(kind: str, seed: int = 0) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    if kind in ("relu", "sigmoid"):
        init = "kaiming_normal" if kind == "relu" else "xavier_uniform"
        model = nets.mlp(512, 10, depth=8, width=512, act=kind, init=init, seed=seed)
        x = torch.randn(256, 512, generator=g)
    elif kind == "cnn":
        model = nets.small_cnn((3, 32, 32), 10, channels=(32, 64, 64), act="relu", init="kaiming_normal",
                               seed=seed)
        x = torch.randn(256, 3 * 32 * 32, generator=g)
    else:
        raise ValueError(f"unknown model {kind!r}; valid: relu, sigmoid, cnn")
    y = torch.randint(0, 10, (x.shape[0],), generator=g)
    return model, x, y


def stepper(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[Callable[[], None], torch.optim.SGD]:
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)

    def step() -> None:
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    return step, opt


class Floor:
    """The monitor's per-step reductions on a model with bare hooks, and nothing else: what the
    statistics cost by themselves (see the module docstring). Same operations as the monitor's
    steady state (``actlab.watch.monitor``): per activation output the per-unit maximum (and
    minimum for signed outputs) over every element, the row sample's sum, L2 norm and non-zero
    count, the saturated count from the catalog derivative (not for ReLU), and a norm of the
    gradient arriving there; before the optimizer's step one ``_foreach_norm`` over the weight
    gradients and one read of all values on the host. The head's output (which the monitor also
    watches: a batch x classes tensor) is left out, so the floor reads slightly low."""

    def __init__(self, model: nn.Module, opt: torch.optim.Optimizer) -> None:
        self.vals: list[torch.Tensor] = []
        self.params = [p for p in model.parameters() if p.requires_grad]
        acts = [m for m in model.modules() if is_activation(m)]
        self.info = {id(m): activation_info(m, DEFAULT_TAU) for m in acts}
        self.handles = [m.register_forward_hook(self.forward) for m in acts]
        self.handles.append(opt.register_step_pre_hook(lambda *_: self.end_step()))

    def forward(self, module: nn.Module, args: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        if not torch.is_grad_enabled():
            return
        act, y = self.info[id(module)], out.detach()
        unit = 1 if y.dim() > 2 else y.dim() - 1
        red = tuple(d for d in range(y.dim()) if d != unit)
        ys = _rows(y, DEFAULT_SAMPLE)  # the monitor's row sample
        self.vals.append(y.amax(dim=red))
        if not act.nonneg:
            self.vals.append(y.amin(dim=red))
        self.vals += (ys.sum(), torch.linalg.vector_norm(ys), ys.bool().sum())
        if act.derivative is not None and not act.sat_is_zero:
            d = act.derivative(_rows(args[0].detach(), DEFAULT_SAMPLE))
            self.vals.append(((d if act.monotonic else d.abs()) < act.threshold).sum())
        if out.requires_grad:
            out.register_hook(self.backward)

    def backward(self, g: torch.Tensor) -> None:
        n = torch.linalg.vector_norm(g)
        math.isinf(n.item())  # the monitor's check of an overflowed norm on the CPU
        self.vals.append(n)

    def end_step(self) -> None:
        self.vals += torch._foreach_norm([p.grad for p in self.params if p.grad is not None])
        [v.numpy().copy() if v.dim() else v.item() for v in self.vals]  # the host copy
        self.vals = []

    def close(self) -> None:
        for h in self.handles:
            h.remove()


VARIANTS = {"plain": None, "every 1": 1, "every 10": 10, "anomaly": None, "control": None, "floor": None}


def bench(kind: str, rounds: int, steps: int) -> dict[str, float]:
    model, x, y = make(kind)
    step, opt = stepper(model, x, y)
    for _ in range(max(2, steps // 5)):  # warm-up: allocator, lazy initialisation
        step()
    times: dict[str, list[float]] = {k: [] for k in VARIANTS}
    cpu: dict[str, list[float]] = {k: [] for k in VARIANTS}
    recorded: dict[str, int] = {}
    order = list(VARIANTS)
    rng = random.Random(0)
    for _ in range(rounds):
        rng.shuffle(order)  # no variant always runs first (or right after another) in a round
        for name in order:
            every = VARIANTS[name]
            mon = watch(model, every=every) if every is not None else None
            floor = Floor(model, opt) if name == "floor" else None
            with torch.autograd.detect_anomaly(check_nan=True) if name == "anomaly" else nullcontext():
                step()  # untimed: a monitor's first recorded step (every variant gets one)
                if mon is not None:
                    mon.step()  # ... and its bookkeeping, which would run at the next forward
                gc.collect()
                t0, c0 = time.perf_counter(), time.process_time()
                for _ in range(steps):
                    step()
                if mon is not None:  # timed too: the last step's host copy, the records' fold
                    mon.close()
                times[name].append((time.perf_counter() - t0) / steps)
                cpu[name].append((time.process_time() - c0) / steps)
            if floor is not None:
                floor.close()
            if mon is not None:
                recorded[name] = len(mon.records) - 1  # the untimed first step left out
    # each monitor recorded what it should have during its timed steps
    assert (recorded["every 1"], recorded["every 10"]) == (steps, steps // 10), recorded
    out: dict[str, float] = {}
    for label, tt in (("wall", times), ("cpu", cpu)):
        # paired: the ratio to the unwatched run within each round (same load), median over rounds
        out[f"{label}_plain_ms"] = statistics.median(tt["plain"]) * 1e3
        for key, name in KEYS.items():
            ratios = [a / b for a, b in zip(tt[name], tt["plain"])]
            out[f"{label}_{key}"] = statistics.median(ratios)
            out[f"{label}_{key}_lo"], out[f"{label}_{key}_hi"] = bootstrap_median(ratios)
    return out


KEYS = {"every1": "every 1", "every10": "every 10", "anomaly": "anomaly", "control": "control",
        "floor": "floor"}


def bootstrap_median(values: list[float], resamples: int = 2000, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the median over the rounds (resampled with replacement)."""
    rng = random.Random(1)
    meds = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(resamples))
    tail = (1 - level) / 2
    return meds[int(tail * resamples)], meds[min(resamples - 1, int((1 - tail) * resamples))]


#: Fewer rounds than this give no interval worth a verdict.
MIN_ROUNDS = 10


def verdict(lo: float, hi: float, goal: float, rounds: int) -> str:
    if rounds < MIN_ROUNDS:
        return f"undecided (fewer than {MIN_ROUNDS} rounds)"
    return "met" if hi <= goal else "MISSED" if lo > goal else "undecided"


def main() -> None:
    warnings.filterwarnings("ignore", message="Anomaly Detection has been enabled")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=["relu", "sigmoid", "cnn", "all"], default="all")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--steps", type=int, default=10, help="steps per round (a multiple of 10)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-tune-malloc", action="store_true", help="measure with glibc's default thresholds")
    args = ap.parse_args()
    if args.steps % 10:
        ap.error("--steps must be a multiple of 10 (every round then holds one step recorded by every=10)")
    torch.set_num_threads(args.threads)
    tuned = False if args.no_tune_malloc else tune_malloc()
    kinds = ["relu", "sigmoid", "cnn"] if args.model == "all" else [args.model]
    print(f"torch {torch.__version__}, {args.threads} thread(s), {args.rounds} rounds x {args.steps} steps, "
          f"malloc tuned: {tuned}; median step time; ratio = that variant / unwatched")
    print("cpu = process CPU time (robust on a shared machine: time spent waiting for a core is not "
          "counted), wall = perf_counter")
    print("control = a second unwatched run: its distance from 1.000x is the resolution of this run")
    print("floor = the monitor's reductions by bare hooks, no bookkeeping: what the statistics cost")
    print(f"{'model':34s} {'clock':5s} {'plain ms':>9s} {'every 1':>9s} {'every 10':>9s} {'anomaly':>9s} "
          f"{'control':>9s} {'floor':>9s}")
    labels = {"relu": "MLP 8x512 ReLU, batch 256", "sigmoid": "MLP 8x512 sigmoid, batch 256",
              "cnn": "CNN 32-64-64 ReLU 32x32, batch 256"}
    for kind in kinds:
        r = bench(kind, args.rounds, args.steps)
        for clock in ("cpu", "wall"):
            mark = ""
            if kind == "relu":
                v1, v10 = (verdict(r[f"{clock}_{k}_lo"], r[f"{clock}_{k}_hi"], GOALS[e], args.rounds)
                           for k, e in (("every1", 1), ("every10", 10)))
                mark = f"   goals <= {GOALS[1]}x / <= {GOALS[10]}x: {v1} / {v10}"
            ratios = " ".join(f"{r[f'{clock}_{k}']:8.3f}x" for k in KEYS)
            print(f"{labels[kind]:34s} {clock:5s} {r[f'{clock}_plain_ms']:9.1f} {ratios}{mark}", flush=True)
            ci = ", ".join(f"{KEYS[k]} [{r[f'{clock}_{k}_lo']:.3f}, {r[f'{clock}_{k}_hi']:.3f}]"
                           for k in ("every1", "every10", "control", "floor"))
            print(f"{'':34s} {clock:5s} 95% intervals of the medians: {ci}", flush=True)


if __name__ == "__main__":
    main()
