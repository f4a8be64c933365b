"""``actlab diagnose``: train a built-in MLP on offline data under :func:`actlab.watch` and diagnose it.

The four classic failure modes, each one command (digits, 300 SGD steps of batch 64)::

    actlab diagnose --act sigmoid --depth 20 --init xavier_uniform --lr 0.1      # vanishing
    actlab diagnose --act relu --depth 10 --init kaiming_normal --gain 4 --lr 0.01  # exploding, NaN
    actlab diagnose --act relu --depth 4 --init kaiming_normal --lr 1.0          # dead units
    actlab diagnose --act relu --depth 4 --init kaiming_normal --lr 0.02         # healthy

The model is :func:`actlab.nets.mlp` on :func:`actlab.data.load` (scikit-learn's bundled digits or a
synthetic set), the same builders as ``actlab sweep``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

OPTIMIZERS = ("sgd", "momentum", "adam")


@dataclass
class DiagnoseResult:
    """What :func:`diagnose_mlp` returns: the closed monitor, its summary and the run's outcome."""

    monitor: Any
    summary: Any
    steps: int
    stopped: str | None = None  # why training stopped early ("loss NaN/Inf at step 7")
    losses: list[float] = field(default_factory=list)
    test_acc: float | None = None


def diagnose_mlp(
    act: str = "relu",
    depth: int = 8,
    width: int = 128,
    init: str = "kaiming_normal",
    gain: float | None = None,
    sigma_w2: float | None = None,
    sigma_b2: float | None = None,
    lr: float = 0.05,
    steps: int = 300,
    dataset: str = "digits",
    batch_size: int = 64,
    optimizer: str = "sgd",
    seed: int = 0,
    every: int = 1,
    window: int = 20,
    act_params: dict[str, Any] | None = None,
    jsonl: str | Path | None = None,
    theory: bool = True,
) -> DiagnoseResult:
    """Train ``nets.mlp(depth, width, act, init, gain, sigma_w2, sigma_b2)`` for ``steps`` minibatch
    steps under ``actlab.watch`` and return the diagnosis. Training stops at the first non-finite loss (after
    its backward pass, so the monitor sees where the NaN/Inf appears in both directions)."""
    from actlab import data, nets
    from actlab.watch import watch

    for name, value, low in (("steps", steps, 1), ("batch_size", batch_size, 1), ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name}={value!r} is invalid; valid: an integer >= {low}")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr={lr!r} is invalid; valid: a number > 0")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer={optimizer!r} is invalid; valid: {', '.join(OPTIMIZERS)}")
    ds = data.load(dataset, seed=seed)
    model = nets.mlp(ds.n_features, ds.n_classes, depth=depth, width=width, act=act, act_params=act_params,
                     init=init, gain=gain, sigma_w2=sigma_w2, sigma_b2=sigma_b2, seed=seed)
    if optimizer == "adam":
        opt: torch.optim.Optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9 if optimizer == "momentum" else 0.0)
    g = torch.Generator().manual_seed(seed)
    n = len(ds.y_train)
    losses: list[float] = []
    stopped = None
    done = 0
    with watch(model, every=every, window=window, jsonl=jsonl) as mon:
        perm = torch.randperm(n, generator=g)
        pos = 0
        for t in range(steps):
            if pos + batch_size > n:
                perm, pos = torch.randperm(n, generator=g), 0
            idx = perm[pos:pos + batch_size]
            pos += batch_size
            loss = F.cross_entropy(model(ds.x_train[idx]), ds.y_train[idx])
            opt.zero_grad()
            loss.backward()
            done = t + 1
            value = loss.detach().item()
            losses.append(value)
            if not math.isfinite(value):
                stopped = f"loss {value} at step {t}: stopped"
                break
            opt.step()
    model.eval()
    with torch.no_grad():
        acc = float((model(ds.x_test).argmax(1) == ds.y_test).float().mean())
    return DiagnoseResult(mon, mon.summary(theory=theory), done, stopped, losses,
                          acc if math.isfinite(losses[-1]) else None)
