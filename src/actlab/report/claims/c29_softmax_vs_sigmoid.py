r"""C29 - for two classes softmax is the sigmoid of the logit difference; softmax's outputs are
mutually exclusive probabilities, independent sigmoids (multi-label) are not.

Tutorial 001 ("Sigmoid and Softmax"): "for two classes sigmoid and softmax are the same, both
minimise cross-entropy"; "softmax's classes are mutually exclusive, an input belongs to one class
only; several logistic regressions are not: 'apple' can be both 'fruit' and '3C'".

Measured exactly (float64, the catalog's ``actlab.functional.softmax`` / ``sigmoid``):

* **two classes** - on random logit pairs :math:`(a, b)` at scales 1..30:
  :math:`\mathrm{softmax}(a, b)_1 = e^a / (e^a + e^b) = 1 / (1 + e^{-(a - b)}) = \sigma(a - b)`; the
  largest difference, the cross-entropy :math:`-\log \mathrm{softmax}_y` against the binary
  cross-entropy of :math:`\sigma(a - b)`, and their autograd gradients
  (:math:`\partial/\partial a = p - [y = 1] = -\partial/\partial b`).
* **exclusivity** - 10 classes: softmax outputs sum to 1 (so at most one exceeds 1/2, and raising one
  logit lowers every other output: :math:`\partial p_i / \partial z_j = -p_i p_j < 0`, checked by
  autograd Jacobians); 10 independent sigmoids: their sums range over :math:`(0, 10)`, several
  outputs exceed 1/2 at once, and the Jacobian is diagonal (the outputs do not compete).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

import actlab
from actlab.report.claim import CONFIRMED, REFUTED, Claim, Context, Evidence, Table, Verdict

SCALES = (1.0, 3.0, 10.0, 30.0)
K = 10
#: Agreement tolerance (float64, values in [0, 1] and losses of order 1..60): a few ulps.
TOL = 1e-12


def _two_class(n: int, gen: torch.Generator) -> dict[str, Any]:
    F = actlab.functional
    worst = {"prob": 0.0, "loss": 0.0, "grad": 0.0}
    per_scale = {}
    for s in SCALES:
        z = (torch.randn(n, 2, generator=gen, dtype=torch.float64) * s).requires_grad_(True)
        y = torch.randint(0, 2, (n,), generator=gen)
        p_soft = F.softmax(z, dim=-1)
        d = z[:, 1] - z[:, 0]
        p_sig = F.sigmoid(d)
        ce = -torch.log(p_soft[torch.arange(n), y])
        # binary cross-entropy of sigmoid(d) for "class 1": softplus(-d) if y = 1 else softplus(d), with
        # softplus(t) = max(t, 0) + log1p(exp(-|t|)) exact in float64 (torch's softplus is linear above 20)
        t = torch.where(y == 1, -d, d)
        bce = t.clamp(min=0) + torch.log1p(torch.exp(-t.abs()))
        (g_ce,) = torch.autograd.grad(ce.sum(), z)
        (g_bce,) = torch.autograd.grad(bce.sum(), z)
        e = {"prob": float((p_soft[:, 1] - p_sig).detach().abs().max()),
             "loss": float((ce - bce).detach().abs().max()),
             "grad": float((g_ce - g_bce).abs().max())}
        per_scale[f"{s:g}"] = e
        worst = {k: max(worst[k], e[k]) for k in worst}
    return {"per_scale": per_scale, "max_abs_diff": worst}


def _exclusive(n: int, gen: torch.Generator) -> dict[str, Any]:
    F = actlab.functional
    out: dict[str, Any] = {}
    for s in SCALES:
        z = torch.randn(n, K, generator=gen, dtype=torch.float64) * s
        p, q = F.softmax(z, dim=-1), F.sigmoid(z)
        ps, qs = p.sum(-1), q.sum(-1)
        out[f"{s:g}"] = {
            "softmax_max_abs_sum_minus_1": float((ps - 1).abs().max()),
            "softmax_max_count_above_half": int((p > 0.5).sum(-1).max()),
            "sigmoid_sum_range": [float(qs.min()), float(qs.max())],
            "sigmoid_fraction_two_or_more_above_half": float(((q > 0.5).sum(-1) >= 2).double().mean()),
            "sigmoid_max_count_above_half": int((q > 0.5).sum(-1).max()),
        }
    # Jacobians on a few inputs: softmax off-diagonals negative, sigmoid's zero
    zs = torch.randn(32, K, generator=gen, dtype=torch.float64) * 3
    off = ~torch.eye(K, dtype=torch.bool)
    js = torch.stack([torch.autograd.functional.jacobian(lambda v: F.softmax(v, dim=-1), z) for z in zs])
    jq = torch.stack([torch.autograd.functional.jacobian(F.sigmoid, z) for z in zs])
    pz = F.softmax(zs, dim=-1)
    formula = torch.diag_embed(pz) - pz[:, :, None] * pz[:, None, :]
    out["jacobian"] = {
        "softmax_max_offdiag": float(js[:, off].max()),
        "softmax_vs_formula_max_abs_diff": float((js - formula).abs().max()),
        "sigmoid_max_abs_offdiag": float(jq[:, off].abs().max()),
        "inputs": len(zs),
    }
    return out


def measure(ctx: Context) -> Evidence:
    n = ctx.pick(20_000, 200_000, 2_000)
    gen = torch.Generator().manual_seed(0)
    two = _two_class(n, gen)
    exc = _exclusive(n, gen)
    numbers: dict[str, Any] = {"samples_per_scale": n, "tol": TOL, "two_class": two, "exclusive": exc}
    numbers["two_class_equal"] = all(v <= TOL for v in two["max_abs_diff"].values())
    per = [exc[f"{s:g}"] for s in SCALES]
    numbers["softmax_exclusive"] = bool(
        all(e["softmax_max_abs_sum_minus_1"] <= TOL and e["softmax_max_count_above_half"] <= 1 for e in per)
        and exc["jacobian"]["softmax_max_offdiag"] < 0)
    numbers["sigmoids_not_exclusive"] = bool(
        max(e["sigmoid_fraction_two_or_more_above_half"] for e in per) > 0
        and exc["jacobian"]["sigmoid_max_abs_offdiag"] == 0.0)

    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(7.5, 3.2))
    d = np.linspace(-8, 8, 401)
    zz = torch.tensor(np.stack([np.zeros_like(d), d], 1))
    a.plot(d, actlab.functional.softmax(zz, dim=-1)[:, 1].numpy(), "C0", lw=4, alpha=0.4,
           label="softmax(0, d)[1]")
    a.plot(d, actlab.functional.sigmoid(torch.tensor(d)).numpy(), "k--", lw=1, label="sigmoid(d)")
    a.set(xlabel="logit difference d = b - a", ylabel="P(class 1)",
          title=f"2 classes: max |diff| {two['max_abs_diff']['prob']:.1e}")
    a.legend(fontsize=7)
    gen2 = torch.Generator().manual_seed(1)
    z = torch.randn(5000, K, generator=gen2, dtype=torch.float64) * 3
    bins = np.arange(82) / 8 - 1 / 16  # 1.0 in the middle of a bin
    b.hist(actlab.functional.softmax(z, dim=-1).sum(-1).numpy(), bins=bins, color="C0",
           label="softmax: sum of 10 outputs")
    b.hist(actlab.functional.sigmoid(z).sum(-1).numpy(), bins=bins, color="C1", alpha=0.7,
           label="10 sigmoids: sum")
    b.set(xlabel="sum of the outputs", ylabel="inputs", title="logits N(0, 3^2), 10 classes", yscale="log")
    b.legend(fontsize=7)
    fig.tight_layout()
    figure = ctx.figure(fig, "Left: with two classes softmax's class-1 probability (thick) lies exactly on "
                             "sigmoid of the logit difference (dashed). Right: softmax's outputs always sum "
                             "to 1 (one bar), independent sigmoids' sums spread over (0, 10): several "
                             "classes can be 'on' together.")
    rows = [[f"{s:g}", f"{exc[f'{s:g}']['softmax_max_abs_sum_minus_1']:.1e}",
             exc[f"{s:g}"]["softmax_max_count_above_half"],
             "[{:.2f}, {:.2f}]".format(*exc[f"{s:g}"]["sigmoid_sum_range"]),
             f"{exc[f'{s:g}']['sigmoid_fraction_two_or_more_above_half']:.3f}"] for s in SCALES]
    table = Table(["logit scale", "softmax max |sum - 1|", "softmax max outputs > 1/2", "sigmoid sum range",
                   "sigmoid: fraction with >= 2 outputs > 1/2"], rows,
                  f"{n} random logit vectors (10 classes) per scale, float64.")
    return Evidence(numbers, {"samples_per_scale": n, "scales": list(SCALES), "classes": K,
                              "dtype": "float64", "functions": "actlab.functional.softmax / sigmoid"},
                    [figure], [table])


def decide(numbers: dict[str, Any], quick: bool) -> Verdict:
    """Confirmed when the two-class identity holds to ``tol`` (probability, loss and gradient), softmax
    is exclusive (sums to 1, never two outputs above 1/2, negative cross-derivatives) and independent
    sigmoids are not (several outputs above 1/2 at once, zero cross-derivatives)."""
    two = numbers["two_class"]["max_abs_diff"]
    jac = numbers["exclusive"]["jacobian"]
    frac = max(v["sigmoid_fraction_two_or_more_above_half"] for k, v in numbers["exclusive"].items()
               if k != "jacobian")
    desc = (f"softmax(a, b)_1 - sigmoid(b - a) at most {two['prob']:.1e} (loss {two['loss']:.1e}, gradient "
            f"{two['grad']:.1e}); softmax's cross-derivatives at most {jac['softmax_max_offdiag']:.3g} < 0, "
            f"sigmoids' {jac['sigmoid_max_abs_offdiag']:g}, and up to {100 * frac:.1f}% of inputs have two "
            "or more sigmoid outputs above 1/2")
    if numbers["two_class_equal"] and numbers["softmax_exclusive"] and numbers["sigmoids_not_exclusive"]:
        return Verdict(CONFIRMED, desc + ".")
    failed = [k.replace("_", " ") for k in ("two_class_equal", "softmax_exclusive", "sigmoids_not_exclusive")
              if not numbers[k]]
    return Verdict(REFUTED, "Fails: " + ", ".join(failed) + "; " + desc + ".")


CLAIM = Claim(
    id="C29",
    title="2-class softmax = sigmoid; softmax is exclusive, sigmoids are not",
    rule="On random float64 logits: confirmed if softmax(a, b)_1, its cross-entropy and its gradient equal "
         "sigmoid(b - a), its binary cross-entropy and gradient within 1e-12, softmax's 10 outputs sum to 1 "
         "(never two above 1/2, all cross-derivatives negative) and independent sigmoids are not exclusive "
         "(two or more above 1/2 on some inputs, zero cross-derivatives); refuted if any part fails.",
    measure=measure,
    decide=decide,
)
