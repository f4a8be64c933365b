"""Training that keeps the model: for claims that inspect the trained weights or activations (C11, C15),
which the sweep store does not keep. The same data, random streams, optimiser and loss as
:func:`actlab.sweep.run_trial` (a test checks that both reach the same test accuracy)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from actlab.sweep import TrialConfig


def train_keep_model(c: TrialConfig, on_epoch: Callable[[int, nn.Module], None] | None = None
                     ) -> tuple[nn.Module, Any, bool]:
    """Train ``c`` as :func:`actlab.sweep.run_trial` does (same data, streams, optimiser, loss) and return
    (model, dataset, finished without a non-finite loss). ``on_epoch(epoch, model)`` after epochs 0..E."""
    from actlab.sweep.trial import build_model, dataset_for, make_optimizer, penalised_weights, streams

    ds = dataset_for(c)
    g_init, g_order = streams(c)
    torch.manual_seed(c.seed)
    model = build_model(c, ds, g_init)
    opt = make_optimizer(c, list(model.parameters()))
    weights = penalised_weights(model) if c.l1 else []
    x, y = ds.x_train, ds.y_train
    if on_epoch is not None:
        on_epoch(0, model)
    model.train()
    for epoch in range(1, c.epochs + 1):
        perm = torch.randperm(len(y), generator=g_order)
        for i in range(0, len(y), c.batch_size):
            idx = perm[i:i + c.batch_size]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            if weights:
                loss = loss + c.l1 * sum(w.abs().sum() for w in weights)
            if not math.isfinite(loss.item()):
                return model, ds, False
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if on_epoch is not None:
            on_epoch(epoch, model)
    return model, ds, True
