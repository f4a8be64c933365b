"""actlab.watch overhead: training step time with the monitor against without, side by side.

    .venv/bin/python benchmarks/bench_watch.py                 # all three models, 1 thread
    .venv/bin/python benchmarks/bench_watch.py --model relu --rounds 30 --threads 2

Each model exists three times with equal weights: unwatched, watched recording every step, watched
recording every 10th step. Rounds run every variant for ``--steps`` SGD steps in turn (round-robin),
so load on a shared machine hits all variants alike; the report gives the median step time over
rounds and the ratios to the unwatched model. Absolute times drift; the ratios are the result.

Goal (issue 4, part 5): 8-layer 512-wide ReLU MLP, batch 256, SGD, CPU: every step <= 1.05x,
every 10 steps <= 1.015x. The sigmoid MLP and the CNN are reported alongside.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

import actlab.nets as nets
from actlab.watch import watch

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


def stepper(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> Callable[[], None]:
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)

    def step() -> None:
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    return step


def bench(kind: str, rounds: int, steps: int) -> dict[str, float]:
    variants: dict[str, Callable[[], None]] = {}
    monitors = []
    for name, every in (("plain", None), ("every 1", 1), ("every 10", 10)):
        model, x, y = make(kind)
        if every is not None:
            monitors.append(watch(model, every=every))
        variants[name] = stepper(model, x, y)
    for step in variants.values():  # warm-up: allocator, first-step bookkeeping
        for _ in range(max(2, steps // 5)):
            step()
    times: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(rounds):
        for name, step in variants.items():
            t0 = time.perf_counter()
            for _ in range(steps):
                step()
            times[name].append((time.perf_counter() - t0) / steps)
    for mon in monitors:
        mon.close()
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"plain_ms": med["plain"] * 1e3, "every1": med["every 1"] / med["plain"],
            "every10": med["every 10"] / med["plain"],
            "recorded": float(len(monitors[0].records))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=["relu", "sigmoid", "cnn", "all"], default="all")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--steps", type=int, default=10, help="steps per round (a multiple of 10)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    if args.steps % 10:
        ap.error("--steps must be a multiple of 10 (every round then holds one step recorded by every=10)")
    torch.set_num_threads(args.threads)
    kinds = ["relu", "sigmoid", "cnn"] if args.model == "all" else [args.model]
    print(f"torch {torch.__version__}, {args.threads} thread(s), {args.rounds} rounds x {args.steps} steps, "
          "median step time; ratio = watched / unwatched")
    print(f"{'model':34s} {'plain ms':>9s} {'every 1':>9s} {'every 10':>9s}")
    labels = {"relu": "MLP 8x512 ReLU, batch 256", "sigmoid": "MLP 8x512 sigmoid, batch 256",
              "cnn": "CNN 32-64-64 ReLU 32x32, batch 256"}
    for kind in kinds:
        r = bench(kind, args.rounds, args.steps)
        mark = ""
        if kind == "relu":
            ok1, ok10 = r["every1"] <= GOALS[1], r["every10"] <= GOALS[10]
            mark = f"   goals <= {GOALS[1]}x / <= {GOALS[10]}x: {'met' if ok1 else 'MISSED'} / " \
                   f"{'met' if ok10 else 'MISSED'}"
        print(f"{labels[kind]:34s} {r['plain_ms']:9.1f} {r['every1']:8.3f}x {r['every10']:8.3f}x{mark}")


if __name__ == "__main__":
    main()
