"""Catalog forward+backward: actlab modules vs torch.nn and vs autograd of the plain formula.

    .venv/bin/python benchmarks/bench_catalog.py                 # 16M float32 elements, CPU
    .venv/bin/python benchmarks/bench_catalog.py --n 4000000 --reps 3 --only relu gelu softsign

For every catalog entry (built-ins and the noisy units), one run measures side by side:

* ``actlab``: ``actlab.get(name)`` in training mode, forward + backward (``y.backward(g)``);
* ``torch.nn``: the PyTorch module with the same semantics, found through
  ``actlab.catalog.torch_map`` (the config it maps to is the one actlab runs, so hard_sigmoid is
  compared at PyTorch's slope 1/6, not the catalog default 1/4);
* ``formula``: the textbook formula written in elementwise torch ops (exp, log1p, erf, where,
  clamp, ...) and differentiated by autograd - what one writes without a catalog.

Timing is round-robin: each round runs every variant once, back to back in a rotating order,
with ``torch.relu`` as the baseline; at least ``--reps`` rounds and ``--min-time`` seconds per
entry. The time shown is the best round; the ratios are medians over rounds of the ratio within a
round, so that what drift remains cancels. With one thread (the default) the clock is the
process's CPU time, so other processes on a shared machine do not count (they still share the
caches and memory bandwidth), and glibc keeps freed memory (see :func:`warm_heap`), so large
tensors do not page-fault afresh on every call. ``x relu`` is time per element relative to
``torch.relu`` forward+backward. The relu row compares the same op on both sides: its distance
from 1.00 is the noise floor of the run.

"saved" is what autograd keeps for backward (each storage once, the input included when it is
kept), over the input's size. Outputs of the variants are compared before timing (deterministic
entries); a mismatch is printed, never hidden. The input is N(0, 3^2), so kinks and saturated
regions are all exercised.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable

import torch
from torch import nn

import actlab
from actlab.catalog.torch_map import from_torch, torch_types

Fn = Callable[[torch.Tensor], torch.Tensor]

# ---------------------------------------------------------------------------------------------
# the plain formulas (autograd differentiates them); parameters at the catalog defaults unless
# the torch.nn comparison needs other values (passed in `params`)
# ---------------------------------------------------------------------------------------------
_SQRT1_2 = 1.0 / math.sqrt(2.0)


def _formula(name: str, params: dict) -> Fn | None:
    p = {**actlab.spec(name).defaults, **params}
    a = p.get("alpha", 1.0)
    if name == "identity":
        return lambda x: x * 1.0
    if name == "sigmoid":
        return lambda x: 1.0 / (1.0 + torch.exp(-x))
    if name == "tanh":
        return lambda x: 1.0 - 2.0 / (torch.exp(2.0 * x) + 1.0)
    if name == "hard_sigmoid":
        return lambda x: torch.clamp(p["slope"] * x + 0.5, 0.0, 1.0)
    if name == "hard_tanh":
        return lambda x: torch.clamp(x, p["min"], p["max"])
    if name == "relu":
        return lambda x: torch.where(x > 0, x, 0.0)
    if name == "relu6":
        return lambda x: torch.clamp(x, 0.0, 6.0)
    if name == "leaky_relu":
        return lambda x: torch.where(x > 0, x, p["negative_slope"] * x)
    if name == "prelu":
        w = torch.full((1,), p["init"], requires_grad=True)
        return lambda x: torch.where(x > 0, x, w * x)
    if name == "rrelu":
        return lambda x: torch.where(x >= 0, x, torch.empty_like(x).uniform_(p["lower"], p["upper"]) * x)
    if name == "elu":
        return lambda x: torch.where(x > 0, x, a * (torch.exp(x) - 1.0))
    if name == "selu":
        from actlab.functional import SELU_ALPHA, SELU_SCALE

        return lambda x: SELU_SCALE * torch.where(x > 0, x, SELU_ALPHA * (torch.exp(x) - 1.0))
    if name == "celu":
        return lambda x: torch.where(x > 0, x, a * (torch.exp(x / a) - 1.0))
    if name == "gelu":
        if p["approximate"] == "tanh":
            c = math.sqrt(2.0 / math.pi)
            return lambda x: 0.5 * x * (1.0 + torch.tanh(c * (x + 0.044715 * x**3)))
        return lambda x: 0.5 * x * (1.0 + torch.erf(x * _SQRT1_2))
    if name == "silu":
        return lambda x: x / (1.0 + torch.exp(-p["beta"] * x))
    if name == "mish":
        return lambda x: x * torch.tanh(torch.log1p(torch.exp(x)))
    if name == "softplus":
        b = p["beta"]
        return lambda x: torch.where(b * x > p["threshold"], x, torch.log1p(torch.exp(b * x)) / b)
    if name == "softsign":
        return lambda x: x / (1.0 + x.abs())
    if name == "hard_swish":
        return lambda x: x * torch.clamp(x + 3.0, 0.0, 6.0) / 6.0
    if name == "log_sigmoid":
        return lambda x: -torch.log1p(torch.exp(-x))
    if name == "maxout":
        return lambda x: x.unflatten(-1, (-1, p["k"])).max(-1).values
    if name == "softmax":
        def softmax(x: torch.Tensor) -> torch.Tensor:
            e = torch.exp(x - x.amax(-1, keepdim=True).detach())
            return e / e.sum(-1, keepdim=True)
        return softmax
    if name == "log_softmax":
        def log_softmax(x: torch.Tensor) -> torch.Tensor:
            z = x - x.amax(-1, keepdim=True).detach()
            return z - torch.log(torch.exp(z).sum(-1, keepdim=True))
        return log_softmax
    if name == "noisy_relu":
        def noisy_relu(x: torch.Tensor) -> torch.Tensor:
            z = x + torch.randn_like(x) * torch.sqrt(1.0 / (1.0 + torch.exp(-x)))
            return torch.where(z > 0, z, 0.0)
        return noisy_relu
    return None  # step (no gradient), the noisy units (bench_noisy.py covers their composition)


def torch_equivalents() -> dict[str, tuple[nn.Module, dict]]:
    """Catalog name -> (a torch.nn module, the catalog config that computes the same thing)."""
    out: dict[str, tuple[nn.Module, dict]] = {}
    for cls in torch_types():
        for kwargs in ({}, {"dim": -1}):
            try:
                m = cls(**kwargs)
                config = from_torch(m)
            except (TypeError, ValueError):
                continue
            if config is not None and config["name"] not in out:
                out[config["name"]] = (m, config)
            break
    return out


# ---------------------------------------------------------------------------------------------
# measurement
# ---------------------------------------------------------------------------------------------
def saved_bytes(fn: Fn, x0: torch.Tensor) -> int:
    """Bytes autograd keeps for backward (each storage once)."""
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        s = t.untyped_storage()
        storages[s.data_ptr()] = s.nbytes()
        return t

    x = x0.detach().requires_grad_(True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        y = fn(x)
    del y
    return sum(storages.values())


CLOCK = time.process_time  # CPU time of this process: what other processes do does not count


def fwd_bwd(fn: Fn, x0: torch.Tensor, g: torch.Tensor) -> float:
    x = x0.detach().requires_grad_(True)
    t = CLOCK()
    y = fn(x)
    y.backward(g if g.shape == y.shape else g[: y.numel()].view(y.shape))
    return CLOCK() - t


def warm_heap() -> bool:
    """glibc only: serve every allocation from the heap and never give it back to the OS.

    By default glibc mmaps blocks above 32 MiB and unmaps them on free, so every 64 MiB tensor
    of a 16M-element run page-faults afresh (the kernel zeroes 16k pages): system time then
    dominates, varies with load, and blocks below the threshold are sometimes reused and
    sometimes not, which makes timings bimodal. With the heap kept warm, repetitions reuse the
    same memory and the timings measure the computation. ``--cold-heap`` keeps the default."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        m_trim_threshold, m_mmap_max = -1, -4  # mallopt takes C ints: 2**31 - 1 is the most
        return bool(libc.mallopt(m_mmap_max, 0)) and bool(libc.mallopt(m_trim_threshold, 2**31 - 1))
    except (OSError, AttributeError):
        return False


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=16 * 2**20, help="elements (default 16M = 2^24)")
    ap.add_argument("--reps", type=int, default=3, help="timed rounds at least (default 3)")
    ap.add_argument("--min-time", type=float, default=0.6,
                    help="seconds of timed rounds per entry at least (up to 4x --reps rounds)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: stable ratios)")
    ap.add_argument("--only", nargs="*", help="entries to run (default: the whole catalog)")
    ap.add_argument("--cold-heap", action="store_true",
                    help="keep glibc's default allocator (fresh pages for every large tensor)")
    args = ap.parse_args()
    heap = "default allocator" if args.cold_heap else (
        "warm heap" if warm_heap() else "default allocator (mallopt unavailable)")
    torch.set_num_threads(args.threads)
    global CLOCK
    if args.threads > 1:  # CPU time would add the threads up
        CLOCK = time.perf_counter
    torch.manual_seed(0)

    n = args.n - args.n % 64
    if heap.startswith("warm"):  # grow the heap once and touch its pages: no page faults later
        torch.ones(12 * n)
    x0 = torch.randn(n) * 3.0
    g = torch.randn(n)
    names = [actlab.canonical(s) for s in args.only] if args.only else actlab.names()
    equiv = torch_equivalents()

    print(f"# actlab catalog benchmark: {n:,} float32 elements ({n * 4 / 2**20:.0f} MiB), "
          f"{torch.get_num_threads()} thread(s), {heap}, "
          f"{'process CPU time' if CLOCK is time.process_time else 'wall time'}, "
          f"torch {torch.__version__}; >= {args.reps} round-robin rounds per entry")
    print("# ms: best round; ratios: actlab time / other time, median over rounds (< 1: actlab is "
          "faster); saved: bytes kept for backward / input bytes")
    head = (f"{'entry':<20} {'actlab ms':>9} {'x relu':>7} {'/torch.nn':>9} {'/formula':>9} "
            f"{'saved':>6} {'torch':>6} {'formula':>7}  note")
    print(head)
    print("-" * len(head))
    sys.stdout.flush()

    for name in names:
        torch_mod, config = equiv.get(name, (None, {"name": name}))
        params = {k: v for k, v in config.items() if k != "name"}
        mod = actlab.get(config).train()
        variants: dict[str, Fn] = {"relu": torch.relu, "actlab": mod}
        if torch_mod is not None:
            variants["torch"] = torch_mod.train()
        formula = _formula(name, params)
        if formula is not None:
            variants["formula"] = formula
        x_in = x0.view(-1, 64) if not actlab.spec(name).properties().elementwise else x0

        notes = []
        if params:
            notes.append(", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                   for k, v in params.items()))
        if not actlab.spec(name).properties(**params).stochastic:
            with torch.no_grad():
                ref = mod(x_in)
                for key, fn in variants.items():
                    if key not in ("actlab", "relu") and not torch.allclose(fn(x_in), ref, rtol=1e-4,
                                                                            atol=1e-5):
                        notes.append(f"MISMATCH vs {key}")
        else:
            notes.append("train mode, noise drawn inside the timing")

        times: dict[str, list[float]] = {k: [] for k in variants}
        keys = list(variants)
        t0 = time.perf_counter()
        for key in keys:  # warm-up round, which also sizes the number of rounds
            fwd_bwd(variants[key], x_in, g)
        rounds = max(args.reps, min(4 * args.reps, math.ceil(args.min_time / (time.perf_counter() - t0))))
        for rep in range(rounds):
            for key in keys[rep % len(keys):] + keys[: rep % len(keys)]:  # rotate the order
                times[key].append(fwd_bwd(variants[key], x_in, g))
        best = {k: min(v) for k, v in times.items()}
        # ratios paired within a round (the variants ran back to back, under the same load)
        ratio = {k: f"{statistics.median(a / b for a, b in zip(times['actlab'], times[k])):.2f}"
                 for k in ("relu", "torch", "formula") if k in times}
        saved = {k: saved_bytes(fn, x_in) / (n * 4) for k, fn in variants.items() if k != "relu"}

        mem = {k: f"{v:.2f}" for k, v in saved.items()}
        print(f"{name:<20} {best['actlab'] * 1e3:>9.1f} {ratio['relu']:>7} "
              f"{ratio.get('torch', '-'):>9} {ratio.get('formula', '-'):>9} {mem['actlab']:>6} "
              f"{mem.get('torch', '-'):>6} {mem.get('formula', '-'):>7}  {'; '.join(notes)}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
