r"""C19 - applying ReLU twice is the same as applying it once.

Tutorial 001 (end of the PyTorch ``nn.ReLU`` section): "applying ReLU several times in a row has the
same effect as applying it once". Mathematically :math:`\max(0, \max(0, x)) = \max(0, x)` because
:math:`\max(0, x) \ge 0` is a fixed point of ReLU: ReLU is idempotent (a projection onto
:math:`[0, \infty)`).

Exact check, in floating point: ReLU applied :math:`k = 1..5` times - the catalog's functional form and
its ``nn.Module`` (forward and autograd gradient) - compared bit for bit with one application, in
float16, bfloat16, float32 and float64, on random normal tensors at several scales plus the special
values (:math:`\pm 0`, :math:`\pm\infty`, NaN, subnormals, the largest and smallest finite numbers).
As a contrast that shows the check can fail, Leaky ReLU (slope 0.01) is not idempotent:
:math:`f(f(x)) = 10^{-4} x \ne 10^{-2} x` for :math:`x < 0`.
"""

from __future__ import annotations

from typing import Any

import torch

import actlab
from actlab.report.claim import CONFIRMED, REFUTED, Claim, Context, Evidence, Table, Verdict

DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
MAX_K = 5


def _inputs(dtype: torch.dtype, n: int, g: torch.Generator) -> torch.Tensor:
    fi = torch.finfo(dtype)
    special = torch.tensor([0.0, -0.0, float("inf"), float("-inf"), float("nan"), fi.max, -fi.max, fi.tiny,
                            -fi.tiny, fi.tiny / 4, -fi.tiny / 4, fi.eps, -fi.eps], dtype=torch.float64)
    parts = [special] + [torch.randn(n, generator=g, dtype=torch.float64) * s for s in (1e-3, 1.0, 1e3)]
    return torch.cat(parts).to(dtype)


def _same_bits(a: torch.Tensor, b: torch.Tensor) -> int:
    """Number of elements whose bit patterns differ (NaN == NaN when the bits agree)."""
    ints = {2: torch.int16, 4: torch.int32, 8: torch.int64}[a.element_size()]
    return int((a.contiguous().view(ints) != b.contiguous().view(ints)).sum())


def _equal_values(a: torch.Tensor, b: torch.Tensor) -> int:
    """Number of elements whose values differ (NaN equals NaN, -0 equals +0)."""
    return int((~((a == b) | (a.isnan() & b.isnan()))).sum())


def measure(ctx: Context) -> Evidence:
    n = ctx.pick(30_000, 1_000_000, 2_000)
    g = torch.Generator().manual_seed(0)
    relu_f = actlab.functional.relu
    relu_m = actlab.get("relu")
    leaky = actlab.functional.leaky_relu
    rows = []
    per_dtype: dict[str, Any] = {}
    total = 0
    for dtype in DTYPES:
        x = _inputs(dtype, n, g)
        total += x.numel()
        once_f, once_m = relu_f(x), relu_m(x)
        d: dict[str, Any] = {"n": x.numel(), "module_vs_functional_bits": _same_bits(once_f, once_m)}
        hf, hm = once_f, once_m
        bits_f, bits_m, vals = [], [], []
        for _k in range(2, MAX_K + 1):
            hf, hm = relu_f(hf), relu_m(hm)
            bits_f.append(_same_bits(hf, once_f))
            bits_m.append(_same_bits(hm, once_m))
            vals.append(_equal_values(hf, once_f))
        d.update({"bit_mismatches_functional": bits_f, "bit_mismatches_module": bits_m,
                  "value_mismatches": vals})
        # gradients: d/dx relu(relu(x)) vs d/dx relu(x) (finite inputs; relu'(0) = 0 by convention)
        xf = x[torch.isfinite(x)].clone().requires_grad_(True)
        (g1,) = torch.autograd.grad(relu_m(xf).sum(), xf)
        (g2,) = torch.autograd.grad(relu_m(relu_m(xf)).sum(), xf)
        d["grad_mismatches"] = _equal_values(g1, g2)
        lk1 = leaky(x)
        d["leaky_value_mismatches"] = _equal_values(leaky(lk1), lk1)
        per_dtype[str(dtype).replace("torch.", "")] = d
        rows.append([str(dtype).replace("torch.", ""), x.numel(), max(bits_f), max(bits_m),
                     d["grad_mismatches"], d["leaky_value_mismatches"]])
    numbers = {
        "per_dtype": per_dtype,
        "n_values": total,
        "max_k": MAX_K,
        "relu_mismatches": sum(sum(d["bit_mismatches_functional"]) + sum(d["bit_mismatches_module"])
                               + d["grad_mismatches"] + d["module_vs_functional_bits"]
                               for d in per_dtype.values()),
        "leaky_mismatches": sum(d["leaky_value_mismatches"] for d in per_dtype.values()),
    }

    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(8, 3.0))
    xs = torch.linspace(-3, 3, 601, dtype=torch.float64)
    h = xs
    for k in range(1, 4):
        h = relu_f(h)
        a.plot(xs.numpy(), h.numpy(), lw=5 - 1.5 * k, label=f"relu applied {k}x", alpha=0.8)
    a.set(xlabel="x", title="relu, relu∘relu, relu∘relu∘relu: one curve")
    a.legend(fontsize=7)
    neg = torch.linspace(-3, -0.01, 300, dtype=torch.float64)
    h = neg
    for k in range(1, 4):
        h = leaky(h)
        b.loglog((-neg).numpy(), (-h).numpy(), lw=1.4, label=f"leaky_relu applied {k}x: 0.01^{k}·|x|")
    b.set(xlabel="|x| (x < 0)", ylabel="|f(x)|", title="contrast: leaky_relu is not idempotent")
    b.legend(fontsize=7)
    fig.tight_layout()
    figure = ctx.figure(fig, f"Left: relu applied 1, 2 and 3 times draws a single curve (bit-identical on "
                             f"{total} values in 4 dtypes, {numbers['relu_mismatches']} differences). Right: "
                             "the contrast - leaky_relu's negative branch shrinks by a factor 0.01 per "
                             "application (log "
                             "scales).")
    table = Table(["dtype", "values", "bit diffs relu^k vs relu (functional)", "(module)",
                   "gradient diffs", "leaky_relu^2 vs leaky_relu diffs"], rows,
                  f"k = 2..{MAX_K} applications; inputs: normal at scales 1e-3, 1, 1e3 plus ±0, ±inf, NaN, "
                  "subnormals, ±max.")
    return Evidence(numbers, {"values_per_dtype": n * 3 + 13, "dtypes": [str(t) for t in DTYPES],
                              "applications": list(range(1, MAX_K + 1))}, [figure], [table])


def decide(numbers: dict[str, Any], quick: bool) -> Verdict:
    """Confirmed when repeated ReLU matches one ReLU bit for bit everywhere (values, module, gradient);
    the leaky contrast must differ, otherwise the check could not tell idempotent maps apart."""
    n, bad, leaky = numbers["n_values"], numbers["relu_mismatches"], numbers["leaky_mismatches"]
    if bad == 0 and leaky > 0:
        return Verdict(CONFIRMED, f"relu applied 2..{numbers['max_k']} times equals relu once bit for bit on "
                                  f"{n} values in 4 dtypes (forward and gradient); the leaky_relu control "
                                  f"differs on {leaky} values, so the check can fail.")
    if bad > 0:
        return Verdict(REFUTED, f"{bad} of the comparisons of relu^k with relu differ (on {n} values).")
    raise ValueError("the leaky_relu control showed no difference either: the comparison is broken, "
                     "no verdict")


CLAIM = Claim(
    id="C19",
    title="ReLU is idempotent",
    rule="Apply the catalog's relu 1..5 times (functional and module, forward and gradient) to random and "
         "special values in float16/bfloat16/float32/float64; confirmed if every repeated application is "
         "bit-identical to one and the leaky_relu control (not idempotent) does differ; refuted otherwise.",
    measure=measure,
    decide=decide,
)
