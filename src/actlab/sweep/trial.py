"""Run one trial: a :class:`TrialConfig` in, a :class:`TrialResult` out - never an exception.

Training is deliberately plain (``nn.Module`` + ``torch.optim``), the reference the vectorised
ensemble (:mod:`actlab.sweep.ensemble`) is tested against. Both draw their random numbers from the
same per-trial streams (:func:`streams`): the model from ``torch.Generator().manual_seed(seed)``
(exactly ``actlab.nets.mlp(..., seed=seed)``), the batch order from a second generator, one
``randperm`` per epoch.

Status: ``ok``; ``diverged`` when a training loss (or the end-of-epoch train loss) is NaN or
infinite - training stops there and the epochs before it are kept; ``failed`` when anything
raises - the traceback is kept and the sweep goes on.
"""

from __future__ import annotations

import functools
import math
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from actlab import data, nets
from actlab.sweep.config import TrialConfig

__all__ = ["STATUSES", "TrialResult", "build_model", "evaluate", "load_data", "run_trial", "streams"]

STATUSES = ("ok", "diverged", "failed")

#: Added to the seed for the batch-order stream, so it never coincides with the init stream.
_SHUFFLE_OFFSET = 0x5DEECE66D


@dataclass
class TrialResult:
    """The outcome of one trial.

    ``epochs``: one dict per evaluation (epoch 0 - the model at initialisation -, every
    ``eval_every``-th epoch and the last) with
    ``train_loss``, ``train_acc``, ``test_loss``, ``test_acc`` (full splits, eval mode), ``step``
    (optimizer steps so far), ``wall_s`` (training seconds so far) and, with ``watch``, per-layer
    statistics. ``final``: the last epoch's metrics, ``steps``, ``learned`` (trained activation
    parameters, e.g. prelu slopes or swish beta, by module path) and, when diverged,
    ``diverged_epoch`` / ``diverged_step``.
    """

    config: TrialConfig
    status: str
    epochs: list[dict[str, Any]] = field(default_factory=list)
    final: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    wall_s: float = 0.0

    @property
    def hash(self) -> str:
        return self.config.hash

    def to_dict(self) -> dict[str, Any]:
        return {"config": self.config.to_dict(), "status": self.status, "epochs": self.epochs,
                "final": self.final, "error": self.error, "wall_s": self.wall_s}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrialResult:
        return cls(config=TrialConfig.from_dict(d["config"]), status=d["status"], epochs=list(d["epochs"]),
                   final=dict(d["final"]), error=d.get("error"), wall_s=float(d.get("wall_s", 0.0)))

    def metric(self, name: str, default: float = math.nan) -> float:
        v = self.final.get(name)
        return default if v is None else float(v)


def streams(config: TrialConfig) -> tuple[torch.Generator, torch.Generator]:
    """The trial's two random streams: (initialisation, batch order)."""
    return (torch.Generator().manual_seed(config.seed),
            torch.Generator().manual_seed(config.seed + _SHUFFLE_OFFSET))


@functools.lru_cache(maxsize=16)
def load_data(dataset: str, standardize: bool, data_seed: int, test_fraction: float) -> data.Dataset:
    """:func:`actlab.data.load`, cached per process (a worker runs many trials on one split)."""
    return data.load(dataset, standardize=standardize, seed=data_seed, test_fraction=test_fraction)


def dataset_for(config: TrialConfig) -> data.Dataset:
    return load_data(config.dataset, config.standardize, config.data_seed, config.test_fraction)


def build_model(config: TrialConfig, ds: data.Dataset, generator: torch.Generator | None = None) -> nn.Module:
    """The config's model for the dataset, initialised from ``generator`` (default: the init stream)."""
    g = streams(config)[0] if generator is None else generator
    common = {"init": config.init, "generator": g}
    init = {"sigma_w2": config.sigma_w2, "sigma_b2": config.sigma_b2, "bias_init": config.bias_init,
            "norm": config.norm, **common}
    if config.model == "mlp":
        return nets.mlp(ds.n_features, ds.n_classes, config.depth, config.width, config.act,
                        config.act_params, **init)
    if config.model == "cnn":
        if ds.image_shape is None:
            raise ValueError(f"model 'cnn' needs image data; dataset {ds.name!r} has none")
        return nets.small_cnn(ds.image_shape, ds.n_classes, channels=(config.width,) * max(config.depth, 1),
                              act=config.act, act_params=config.act_params, **init)
    # lstm / gru: image rows as time steps, otherwise one feature per step
    steps, per_step = (ds.image_shape[1], ds.image_shape[2]) if ds.image_shape else (ds.n_features, 1)
    return nets.recurrent(config.model, steps, per_step, ds.n_classes, max(config.depth, 1), config.width,
                          config.act, config.act_params, config.gate_act, **common)


def make_optimizer(config: TrialConfig, params: list[nn.Parameter]) -> torch.optim.Optimizer:
    """torch.optim's SGD / SGD+momentum / Adam / Adagrad with the config's lr and weight decay."""
    kw = {"lr": config.lr, "weight_decay": config.weight_decay, "foreach": False}
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, **kw)
    if config.optimizer == "momentum":
        return torch.optim.SGD(params, momentum=config.momentum, **kw)
    if config.optimizer == "adam":
        return torch.optim.Adam(params, **kw)
    return torch.optim.Adagrad(params, **kw)


def penalised_weights(model: nn.Module) -> list[torch.Tensor]:
    """The tensors the L1 penalty applies to: weights of Linear/Conv layers and recurrent cells."""
    out = []
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            out.append(m.weight)
        elif isinstance(getattr(m, "weight_hh", None), torch.Tensor):
            out += [m.weight_ih, m.weight_hh]
    return out


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Mean cross-entropy and accuracy on (x, y), in eval mode."""
    was = model.training
    model.eval()
    logits = model(x)
    model.train(was)
    loss = F.cross_entropy(logits, y).item()
    acc = (logits.argmax(1) == y).float().mean().item()
    return loss, acc


def learned_params(model: nn.Module) -> dict[str, Any]:
    """Trainable parameters of the activation modules, by module path (prelu weight, swish beta,
    a noisy unit's p): a float for one element, a list otherwise."""
    from actlab.catalog.modules import Activation

    out: dict[str, Any] = {}
    for path, m in model.named_modules():
        if isinstance(m, Activation):
            for name, p in m.named_parameters(recurse=False):
                v = p.detach().flatten().tolist()
                out[f"{path}.{name}"] = v[0] if len(v) == 1 else v
    return out


def epoch_record(epoch: int, step: int, wall: float, train: tuple[float, float], test: tuple[float, float]
                 ) -> dict[str, Any]:
    return {"epoch": epoch, "step": step, "wall_s": wall, "train_loss": _finite_or_none(train[0]),
            "train_acc": train[1], "test_loss": _finite_or_none(test[0]), "test_acc": test[1]}


def _finite_or_none(v: float) -> float | None:
    return v if math.isfinite(v) else None  # JSON has no NaN/Inf


def steps_per_epoch(n: int, batch_size: int) -> int:
    return -(-n // batch_size)


def run_trial(config: TrialConfig, on_epoch: Callable[[dict[str, Any]], None] | None = None) -> TrialResult:
    """Train and evaluate one config. Never raises: a failure is a ``failed`` result with its
    traceback."""
    t0 = time.perf_counter()
    try:
        result = _train(config, on_epoch)
    except Exception:
        return TrialResult(config, "failed", error=traceback.format_exc(limit=20),
                           wall_s=time.perf_counter() - t0)
    result.wall_s = time.perf_counter() - t0
    return result


def _train(config: TrialConfig, on_epoch: Callable[[dict[str, Any]], None] | None) -> TrialResult:
    ds = dataset_for(config)
    g_init, g_order = streams(config)
    torch.manual_seed(config.seed)  # stochastic activations (rrelu, noisy units) draw from the global RNG
    model = build_model(config, ds, g_init)
    opt = make_optimizer(config, list(model.parameters()))
    weights = penalised_weights(model) if config.l1 else []
    watcher = _watcher(config, model, opt)
    try:
        return _loop(config, ds, model, opt, weights, watcher, g_order, on_epoch)
    finally:
        if watcher is not None:
            watcher.close()


def _loop(config: TrialConfig, ds: data.Dataset, model: nn.Module, opt: torch.optim.Optimizer,
          weights: list[torch.Tensor], watcher: Any, g_order: torch.Generator,
          on_epoch: Callable[[dict[str, Any]], None] | None) -> TrialResult:
    x, y = ds.x_train, ds.y_train
    n, bs = len(y), config.batch_size
    epochs: list[dict[str, Any]] = []
    wall = 0.0

    def record(epoch: int, step: int) -> bool:
        train, test = evaluate(model, x, y), evaluate(model, ds.x_test, ds.y_test)
        rec = epoch_record(epoch, step, wall, train, test)
        if watcher is not None and epoch > 0:
            stats = watcher.epoch_stats()
            rec["layers"], rec["verdicts"] = stats["layers"], stats["verdicts"]
        epochs.append(rec)
        if on_epoch is not None:
            on_epoch(rec)
        return math.isfinite(train[0])

    record(0, 0)
    step = 0
    status, final_extra = "ok", {}
    model.train()
    for epoch in range(1, config.epochs + 1):
        t = time.perf_counter()
        perm = torch.randperm(n, generator=g_order)
        diverged = False
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            if weights:
                loss = loss + config.l1 * sum(w.abs().sum() for w in weights)
            if not math.isfinite(loss.item()):
                diverged = True
                break
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            if config.max_steps is not None and step >= config.max_steps:
                break
        wall += time.perf_counter() - t
        if diverged:
            status, final_extra = "diverged", {"diverged_epoch": epoch, "diverged_step": step}
            break
        last = epoch == config.epochs or (config.max_steps is not None and step >= config.max_steps)
        if (last or epoch % config.eval_every == 0) and not record(epoch, step):
            status, final_extra = "diverged", {"diverged_epoch": epoch, "diverged_step": step}
            break
        if last:
            break
    return finish(config, status, epochs, step, learned_params(model), final_extra)


def finish(config: TrialConfig, status: str, epochs: list[dict[str, Any]], step: int, learned: dict[str, Any],
           extra: dict[str, Any]) -> TrialResult:
    """Assemble the result; a diverged trial has no final loss/accuracy (its last finite epoch is
    in ``epochs``)."""
    final: dict[str, Any] = {"steps": step, "epochs_run": epochs[-1]["epoch"] if epochs else 0}
    if status == "ok":
        last = epochs[-1]
        final.update({k: last[k] for k in ("train_loss", "train_acc", "test_loss", "test_acc")})
        final["best_test_acc"] = max(e["test_acc"] for e in epochs)
        final["learned"] = learned
    if epochs and "verdicts" in epochs[-1]:
        final["watch_verdicts"] = epochs[-1]["verdicts"]
    final.update(extra)
    return TrialResult(config, status, epochs, final)


# -- per-layer statistics ------------------------------------------------------------------------
def watch_available() -> bool:
    try:
        import actlab.watch  # noqa: F401
    except ModuleNotFoundError as e:
        if e.name in ("actlab.watch",):
            return False
        raise
    return True


def _watcher(config: TrialConfig, model: nn.Module, opt: torch.optim.Optimizer) -> Any:
    if not config.watch:
        return None
    if not watch_available():
        raise RuntimeError("watch=true needs actlab.watch, which this installation does not have")
    from actlab.sweep._watch import Watcher

    return Watcher(model, opt)
