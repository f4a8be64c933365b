"""NAN forward+backward: the fused autograd Function against the plain autograd composition.

    .venv/bin/python benchmarks/bench_noisy.py            # 16M float32 elements, CPU
    .venv/bin/python benchmarks/bench_noisy.py --n 1000000 --reps 9 --no-compile

Everything is measured side by side in one run, round-robin (each repetition runs every variant
once), and reported as medians and ratios: absolute times drift on a shared machine, ratios much
less. Every variant draws its own noise inside the timed region (16M Gaussian draws are the floor:
about as long as tanh forward+backward). "bytes saved" is what autograd keeps for backward (each
storage once), over the input's size.

Goal (issue 3, part 5): fused >= 5x faster than the composition, saved bytes <= 2x the input.
The default ("fused, eager") keeps the noise at half width (float16 for float32 inputs; see
actlab.noisy.KernelOptions); "full-width noise" keeps it as float32.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

import actlab.noisy as noisy


def saved_bytes(fn: Callable[[], torch.Tensor]) -> int:
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        s = t.untyped_storage()
        storages[s.data_ptr()] = s.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        y = fn()
    del y
    return sum(storages.values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=16 * 2**20, help="elements (default 16M)")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--no-compile", action="store_true", help="skip the torch.compile variant")
    args = ap.parse_args()

    torch.manual_seed(0)
    n = args.n
    x0 = torch.randn(n) * 2.0  # about 60% of the elements beyond the thresholds +-1
    g = torch.ones(n)
    p0 = torch.ones(1)
    unit, alpha, c = "hard_tanh", 1.15, 0.5

    def run(forward: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Callable[[], None]:
        def go() -> None:
            x = x0.detach().requires_grad_(True)
            p = p0.detach().requires_grad_(True)
            forward(x, p).backward(g)

        return go

    def composed(x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        return noisy.nan_composed(x, unit, alpha, c, p, torch.randn(n))

    def fused(**options: bool) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        def forward(x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
            with noisy.kernel_options(**options):
                return noisy.nan(x, unit, alpha=alpha, c=c, p=p, training=True)

        return forward

    def tanh(x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x)

    variants: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
        "torch.tanh": tanh,
        "composition (autograd)": composed,
        "fused, eager": fused(),
        "fused, eager, full-width noise": fused(compact_noise=False),
        "fused, eager, recompute_noise": fused(recompute_noise=True),
    }
    compiled = {"compiled": True}
    if not args.no_compile:
        variants["fused, torch.compile"] = fused(**compiled)

    def compiled_go() -> None:  # backward must run the compiled kernel too
        x = x0.detach().requires_grad_(True)
        p = p0.detach().requires_grad_(True)
        with noisy.kernel_options(**compiled):
            noisy.nan(x, unit, alpha=alpha, c=c, p=p, training=True).backward(g)

    runners = {k: run(f) for k, f in variants.items()}
    if "fused, torch.compile" in runners:
        runners["fused, torch.compile"] = compiled_go
        t0 = time.perf_counter()
        compiled_go()  # compile (first call)
        print(f"(torch.compile: first call {time.perf_counter() - t0:.1f} s)")
    runners["noise draw alone"] = lambda: torch.randn(n)

    for go in runners.values():  # warm up
        go()
    times: dict[str, list[float]] = {k: [] for k in runners}
    for _ in range(args.reps):
        for k, go in runners.items():
            t0 = time.perf_counter()
            go()
            times[k].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) * 1e3 for k, v in times.items()}

    in_bytes = n * 4
    xb = x0.detach().requires_grad_(True)
    pb = p0.detach().requires_grad_(True)
    saved = {k: saved_bytes(lambda f=f: f(xb, pb)) / in_bytes for k, f in variants.items()}

    print(f"NAN (hard_tanh, alpha={alpha}, c={c}), {n:,} float32 elements, CPU, "
          f"{torch.get_num_threads()} threads, median of {args.reps}, forward+backward")
    print(f"{'variant':32s} {'ms':>9s} {'vs composition':>15s} {'vs tanh':>9s} {'saved/input':>12s}")
    for k in runners:
        speed = med["composition (autograd)"] / med[k]
        sb = f"{saved[k]:.2f}x" if k in saved else "-"
        print(f"{k:32s} {med[k]:9.1f} {speed:14.2f}x {med[k] / med['torch.tanh']:8.2f}x {sb:>12s}")
    best = "fused, torch.compile" if "fused, torch.compile" in med else "fused, eager"
    speedup = med["composition (autograd)"] / med[best]
    print(f"\ngoal: {best} {speedup:.2f}x faster than the composition (goal >= 5x): "
          f"{'met' if speedup >= 5 else 'NOT met'}; saved bytes {saved[best]:.2f}x the input "
          f"(goal <= 2x): {'met' if saved[best] <= 2 else 'NOT met'}")


if __name__ == "__main__":
    main()
