r"""C01 - without a nonlinear activation, a stack of layers of any depth is one affine map.

Tutorials 000, 001 and 003 (and 002) say: without an activation every layer is a linear combination of
the previous one, so however many layers are stacked "the output is a linear combination of the input,
the same as having no hidden layer" (003 shows it for two layers by substitution).

Measured exactly: layers :math:`h_{l} = W_l h_{l-1} + b_l` compose to
:math:`y = W x + b` with :math:`W = W_L \cdots W_1` and :math:`b = \sum_l W_L \cdots W_{l+1} b_l`.
For identity-activation MLPs (the catalog's ``identity``) of several depths, built by
:func:`actlab.nets.mlp` in float64, the network's output on the digits inputs is compared with this
single affine map. As a control that the comparison can tell the difference, the best affine
least-squares fit is computed for the identity network and for relu / tanh networks of the same shape:
its relative residual is at rounding level only for the linear stack.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from actlab import nets
from actlab.report.claim import CONFIRMED, INCONCLUSIVE, REFUTED, Claim, Context, Evidence, Table, Verdict
from actlab.sweep.trial import load_data

#: Relative error below which the network and the composed affine map are the same map (float64).
EXACT_TOL = 1e-10
#: A nonlinear control network must be at least this far from every affine map (relative residual).
CONTROL_MIN = 1e-3
WIDTH = 32


def compose(model: nn.Sequential) -> tuple[torch.Tensor, torch.Tensor]:
    """The single affine map ``(W, b)`` of a stack of Linear layers (other modules must be identities)."""
    w: torch.Tensor | None = None
    b: torch.Tensor | None = None
    for m in model:
        if isinstance(m, nn.Linear):
            if w is None or b is None:
                w, b = m.weight.detach().clone(), m.bias.detach().clone()
            else:
                w, b = m.weight.detach() @ w, m.weight.detach() @ b + m.bias.detach()
    assert w is not None and b is not None
    return w, b


def affine_residual(x: torch.Tensor, y: torch.Tensor) -> float:
    """Relative residual ||y - (x A + c)|| / ||y - mean(y)|| of the least-squares affine fit."""
    xa = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], 1)
    sol = torch.linalg.lstsq(xa, y, driver="gelsd").solution
    res = y - xa @ sol
    return float(res.norm() / (y - y.mean(0)).norm())


def _net(act: str, depth: int, seed: int, n_in: int) -> nn.Sequential:
    return nets.mlp(n_in, 10, depth, WIDTH, act, init="xavier_normal", seed=seed).double()


def measure(ctx: Context) -> Evidence:
    depths = ctx.pick([1, 2, 5, 10, 50], [1, 2, 5, 10, 50, 100], [1, 3])
    seeds = ctx.seeds(2, 3, 1)
    ds = load_data("digits", True, 0, 0.25)
    x = torch.cat([ds.x_train, ds.x_test]).double()
    linear: dict[str, dict[str, float]] = {}
    control: dict[str, dict[str, float]] = {"relu": {}, "tanh": {}}
    rows = []
    with torch.no_grad():
        for d in depths:
            errs, resid = [], []
            for s in seeds:
                model = _net("identity", d, s, x.shape[1])
                y = model(x)
                w, b = compose(model)
                y1 = x @ w.T + b
                errs.append(float((y - y1).abs().max() / y.abs().max()))
                resid.append(affine_residual(x, y))
            rank = int(torch.linalg.matrix_rank(compose(_net("identity", d, 0, x.shape[1]))[0]))
            linear[str(d)] = {"max_rel_error": max(errs), "affine_fit_residual": max(resid), "rank": rank}
            for act in control:
                control[act][str(d)] = min(affine_residual(x, _net(act, d, s, x.shape[1])(x)) for s in seeds)
            rows.append([d, f"{max(errs):.2e}", f"{max(resid):.2e}", f"{control['relu'][str(d)]:.3f}",
                         f"{control['tanh'][str(d)]:.3f}"])
    numbers: dict[str, Any] = {
        "depths": depths, "linear": linear, "control_residual": control,
        "max_rel_error": max(v["max_rel_error"] for v in linear.values()),
        "max_linear_residual": max(v["affine_fit_residual"] for v in linear.values()),
        "min_control_residual": min(min(v.values()) for v in control.values()),
        "exact_tol": EXACT_TOL, "control_min": CONTROL_MIN,
    }

    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    ax.semilogy(depths, [linear[str(d)]["max_rel_error"] for d in depths], "o-",
                label="identity: |net - W x - b|")
    ax.semilogy(depths, [linear[str(d)]["affine_fit_residual"] for d in depths], "s--",
                label="identity: best affine fit residual")
    for act, c in (("relu", "C3"), ("tanh", "C2")):
        ax.semilogy(depths, [control[act][str(d)] for d in depths], "^-", color=c,
                    label=f"{act}: best affine fit residual")
    ax.axhline(EXACT_TOL, color="k", ls=":", lw=0.8)
    ax.set(xscale="log", xlabel="hidden layers", ylabel="relative error / residual",
           title="A linear stack is one affine map")
    ax.legend(fontsize=7)
    fig.tight_layout()
    figure = ctx.figure(fig, "Identity-activation MLPs (float64, digits inputs): the network's output minus "
                             "the single composed map W x + b stays at float64 rounding level (the dotted "
                             "line is the 1e-10 tolerance) at every depth, and so does the best affine "
                             "fit; relu and tanh nets of the same shape stay far from every affine map "
                             "(triangles), so the test can tell.")
    table = Table(["hidden layers", "identity: max |net - (Wx+b)| / max|net|", "identity: affine residual",
                   "relu: affine residual", "tanh: affine residual"], rows,
                  f"Width {WIDTH}, Xavier-normal init, {len(seeds)} seed(s), all 1797 digits inputs.")
    return Evidence(numbers, {"dataset": "digits (all 1797 inputs)", "width": WIDTH, "init": "xavier_normal",
                              "dtype": "float64", "depths": depths, "seeds": seeds}, [figure], [table],
                    notes="The composed map has rank at most the narrowest layer (here "
                          f"{min(v['rank'] for v in linear.values())}), so a linear stack is a single "
                          "affine map, possibly of lower rank - never more expressive than no hidden layer.")


def decide(numbers: dict[str, Any], quick: bool) -> Verdict:
    """Confirmed when every identity stack equals its composed affine map to ``exact_tol`` while the
    nonlinear controls are measurably non-affine; refuted when a linear stack differs from it."""
    err, ctrl = numbers["max_rel_error"], numbers["min_control_residual"]
    if err > numbers["exact_tol"]:
        return Verdict(REFUTED, f"An identity-activation stack differs from its composed affine map by "
                                f"{err:.3g} (relative), above {numbers['exact_tol']:g}.")
    if ctrl < numbers["control_min"]:
        return Verdict(INCONCLUSIVE, f"The nonlinear controls are nearly affine too (residual {ctrl:.3g} < "
                                     f"{numbers['control_min']:g}): this input cannot tell the difference.")
    depths = numbers["depths"]
    return Verdict(CONFIRMED, f"At depths {depths[0]}..{depths[-1]} the linear stack equals W x + b to "
                              f"{err:.1e} (relative); relu/tanh nets stay >= {ctrl:.3f} from any affine map.")


CLAIM = Claim(
    id="C01",
    title="Without an activation, depth collapses to one affine map",
    rule=f"Compose the layers of identity-activation MLPs (float64) into one W x + b and compare outputs on "
         f"all digits inputs. Confirmed if the relative difference is <= {EXACT_TOL:g} at every depth while "
         f"relu/tanh nets of the same shape have an affine-fit residual >= {CONTROL_MIN:g} (control); "
         "refuted if a linear stack differs from its composed map.",
    measure=measure,
    decide=decide,
)
