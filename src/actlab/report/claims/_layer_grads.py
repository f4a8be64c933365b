r"""Per-layer gradient measurements shared by the gradient claims (C03, C04, C05, C07, C08, C09).

For an MLP ``Linear -> act -> ... -> Linear`` (:func:`actlab.nets.mlp`, as the sweep engine builds
it) and a batch ``(x, y)``, one backward pass of the summed cross-entropy gives, per hidden layer
:math:`l = 1..L` (1 = next to the input):

* ``out_grad``: the median over examples of :math:`\lVert \partial \ell_i / \partial h_l \rVert`, the
  gradient reaching layer :math:`l`'s output for example :math:`i` (with a summed loss, row :math:`i`
  of :math:`\partial L / \partial h_l` is example :math:`i`'s own gradient);
* ``weight_grad``: :math:`\lVert \partial \bar L / \partial W_l \rVert_F` for the mean loss (what SGD
  applies), for every Linear layer including the head (``L + 1`` values);
* ``ratios``: per example and layer, :math:`\lVert g_{l-1} \rVert / \lVert g_l \rVert`;
* ``zero_fraction`` / ``mean``: the fraction of exact zeros and the mean of each hidden output.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["init_gradients", "layer_grads", "linears"]


def linears(model: nn.Module) -> list[nn.Linear]:
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


def layer_grads(model: nn.Sequential, x: torch.Tensor, y: torch.Tensor) -> dict[str, Any]:
    """Gradient norms per layer for one batch (the model's parameter gradients are left cleared)."""
    outs: list[torch.Tensor] = []
    h = x
    mods = list(model)
    lin_idx = [i for i, m in enumerate(mods) if isinstance(m, nn.Linear)]
    for i, m in enumerate(mods):
        h = m(h)
        # a hidden layer's output: the module right before the next Linear (activation or norm chain end)
        if i + 1 in lin_idx and i not in lin_idx:
            h.retain_grad()
            outs.append(h)
    model.zero_grad(set_to_none=True)
    loss_sum = F.cross_entropy(h, y, reduction="sum")
    loss_sum.backward()
    n = len(y)
    per_ex = [o.grad.norm(dim=1) for o in outs if o.grad is not None]  # type: ignore[union-attr]
    ratios = [(per_ex[k - 1] / per_ex[k]).tolist() for k in range(1, len(per_ex))]
    res = {
        "out_grad": [float(g.median()) for g in per_ex],
        "out_grad_mean": [float(g.mean()) for g in per_ex],
        "weight_grad": [float(m.weight.grad.norm()) / n for m in linears(model)],  # type: ignore[union-attr]
        "ratios": ratios,
        "zero_fraction": [float((o.detach() == 0).float().mean()) for o in outs],
        "mean": [float(o.detach().mean()) for o in outs],
        "loss": float(loss_sum.detach()) / n,
    }
    model.zero_grad(set_to_none=True)
    return res


def _geo(v: Any) -> Any:
    import numpy as np

    return np.exp(np.mean(np.log(np.asarray(v, dtype=float)), 0))


def init_gradients(configs: list[Any], n: int = 512) -> dict[str, Any]:
    """Gradient statistics at initialisation of the models ``configs`` (sweep ``TrialConfig`` of MLPs,
    typically one per seed) - exactly the models the sweep engine trains - on ``n`` training examples.

    Geometric means over the configs of: ``weight_ratio`` (first / last hidden layer's weight-gradient
    norm), ``backprop_ratio`` (first / last hidden layer's median per-example output gradient),
    ``weight_total`` (norm of all weight gradients, mean loss), ``loss``; and the per-layer profiles
    relative to the last hidden layer, ``weight_profile`` and ``backprop_profile``.
    """
    import numpy as np

    from actlab.sweep.trial import build_model, dataset_for

    ds = dataset_for(configs[0])
    xb, yb = ds.x_train[:n], ds.y_train[:n]
    wr, br, wt, loss, wp, bp = [], [], [], [], [], []
    for c in configs:
        r = layer_grads(build_model(c, ds), xb, yb)
        w, g = np.array(r["weight_grad"][:-1]), np.array(r["out_grad"])  # hidden layers only
        wr.append(w[0] / w[-1])
        br.append(g[0] / g[-1])
        wt.append(float(np.sqrt(np.sum(np.square(r["weight_grad"])))))
        loss.append(r["loss"])
        wp.append(w / w[-1])
        bp.append(g / g[-1])
    return {"weight_ratio": float(_geo(wr)), "backprop_ratio": float(_geo(br)),
            "weight_total": float(_geo(wt)), "loss": float(np.mean(loss)),
            "weight_profile": _geo(wp).tolist(), "backprop_profile": _geo(bp).tolist(),
            "weight_ratio_runs": [float(v) for v in wr], "backprop_ratio_runs": [float(v) for v in br]}
