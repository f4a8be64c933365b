r"""Vectorised ensembles: many same-shaped MLP trials trained as one batched model.

Trials that share the architecture's shape (dataset and split, depth, width, norm, batch size,
epochs, optimizer kind, and an activation of the same shape) but differ in seed, learning rate,
momentum, weight decay, L1, init, bias init, or activation (parameters, or even the function, for
parameter-free elementwise ones) train together:

* each parameter of the members is one stacked tensor with the member first (``(E, in, out)`` for
  a hidden Linear weight, ``(E, 1, out)`` for its bias);
* a layer is one batched matmul for all members, ``h @ W + b`` on ``(E, B, n)``
  activations; every member draws its own minibatch (its own batch order) by one ``index_select``;
  the output layer works class-major, logits ``(E, C, B)`` (see :class:`_Ensemble`);
* the loss is the sum of the members' mean cross-entropies, so each member's gradient is exactly
  its own;
* plain MLPs (Linear layers and elementwise activations, the common case) skip autograd: the
  backward pass is written out (:meth:`_Ensemble.backward`: three batched matmuls per layer and the
  activation's closed-form derivative), and plain SGD's update is applied in it
  (``W -= h^T (lr * g)``). Norms and learnable activations go through autograd;
* the other optimizers (momentum, Adam, Adagrad, with per-member lr / momentum / weight decay as
  ``(E, 1, ...)`` columns) are a few ``torch._foreach_*`` ops over the stacked tensors - the formulas
  of ``torch.optim`` (L2 weight decay added to the gradient, Adam's bias corrections).

Speed (``benchmarks/bench_ensemble.py``: 32 MLPs 4x64 on digits, SGD, 20 epochs, one thread, on the
project's 2-core machine, side by side): training is bound by the batched matmuls (64x64x64 per
member). On CPU they go through numpy's BLAS (:func:`_bmm`; OpenBLAS ran them at ~106 GFLOP/s on one
core here, MKL behind ``torch.bmm`` at ~76), except ``g W^T``, a case where OpenBLAS is slower than
MKL. The README gives the measured ratios.

Each member is initialised by building its model exactly as :func:`actlab.sweep.trial.run_trial`
does (``build_model`` with the member's init stream) and copying the parameters in, and shuffles
with the same batch-order stream, so an ensemble member and the one-by-one run of the same config
see the same numbers up to float rounding (the batched kernels sum in another order); the test
suite checks the final metrics agree. A member whose loss becomes NaN/Inf is recorded as diverged
at that step, as the one-by-one run is, and frozen (zero parameters, zero learning rate) so it
cannot disturb the others.

Not ensembled (run one by one by :func:`plan`): CNN and recurrent models, ``watch``, stochastic
activations, and learnable ones other than prelu and swish-beta (silu with ``learnable``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from threadpoolctl import threadpool_limits
from torch import nn

import actlab
from actlab.catalog.modules import Activation
from actlab.sweep.config import TrialConfig
from actlab.sweep.trial import (
    TrialResult,
    build_model,
    dataset_for,
    epoch_record,
    finish,
    run_trial,
    steps_per_epoch,
    streams,
)

__all__ = ["MAX_MEMBERS", "group_key", "plan", "run_ensemble", "run_task"]

#: Default cap on members per ensemble (memory and load balance between workers).
MAX_MEMBERS = 32


def _act_shape_key(c: TrialConfig) -> Hashable | None:
    """What about the activation must be equal for members to share a batched model."""
    props = actlab.spec(c.act).properties(**c.act_params)
    if props.stochastic:
        return None
    if c.act == "prelu":
        return ("prelu", c.act_params["num_parameters"])
    if c.act == "silu" and c.act_params.get("learnable"):
        return ("silu_learnable",)
    if props.learnable:
        return None
    if c.act == "maxout":
        return ("maxout", c.act_params["k"], c.act_params["dim"])
    if not props.elementwise:  # softmax-like: acts along a dimension, keep it alone
        return (c.act, tuple(sorted(c.act_params.items())))
    return ("elementwise",)


def group_key(c: TrialConfig) -> Hashable | None:
    """Configs with equal keys can train as one ensemble; ``None``: run this one alone."""
    if c.model != "mlp" or c.watch:
        return None
    act = _act_shape_key(c)
    if act is None:
        return None
    return (c.dataset, c.data_seed, c.standardize, c.test_fraction, c.depth, c.width, c.norm, c.optimizer,
            c.batch_size, c.epochs, c.max_steps, c.eval_every, act)


def plan(configs: Sequence[TrialConfig], ensemble: bool = True, workers: int = 1,
         max_members: int = MAX_MEMBERS) -> list[list[TrialConfig]]:
    """Split trials into tasks: ensembles of compatible configs (at most ``max_members``, and
    small enough that ``workers`` workers all get work) and single trials. Largest tasks first."""
    if not ensemble:
        return [[c] for c in configs]
    groups: dict[Hashable, list[TrialConfig]] = {}
    tasks: list[list[TrialConfig]] = []
    for c in configs:
        k = group_key(c)
        if k is None:
            tasks.append([c])
        else:
            groups.setdefault(k, []).append(c)
    ensembled = sum(len(g) for g in groups.values())
    # Enough tasks to keep every worker busy, but as few and as large as possible.
    cap = max(1, min(max_members, math.ceil(ensembled / max(1, workers)))) if ensembled else max_members
    for g in groups.values():
        n_chunks = math.ceil(len(g) / cap)
        size = math.ceil(len(g) / n_chunks)
        tasks += [g[i:i + size] for i in range(0, len(g), size)]

    def cost(task: list[TrialConfig]) -> float:
        c = task[0]
        per_member = c.epochs * (c.depth + 1) * c.width * c.width
        return per_member * (len(task) ** 0.5)  # batched members are cheaper than separate runs

    return sorted(tasks, key=cost, reverse=True)


def run_task(configs: Sequence[TrialConfig], ensemble: bool = True) -> list[TrialResult]:
    """Run one task from :func:`plan`: an ensemble when it has several members, else one trial.
    If the batched run itself raises, every member is re-run alone (so a failing member gets its
    own traceback and the others their results)."""
    if len(configs) > 1 and ensemble:
        try:
            return run_ensemble(configs)
        except Exception:
            pass
    return [run_trial(c) for c in configs]


# -- batched products ------------------------------------------------------------------------------
#: Batched products of CPU float tensors through numpy's BLAS (OpenBLAS in numpy's wheels): for the
#: ensemble's 64x64 blocks it ran at ~106 GFLOP/s on one thread of the project's machine, MKL's
#: batched GEMM behind ``torch.bmm`` at ~76 (``benchmarks/bench_ensemble.py`` times both).
NUMPY_MATMUL = True


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy() if t.requires_grad else t.numpy()


def _bmm(a: torch.Tensor, b: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """Batched ``a @ b`` outside autograd (``a`` may be 2-D, shared by all members), through numpy's
    BLAS for CPU float tensors, through ``torch`` for every other device or dtype. (The one product
    where OpenBLAS is slower than MKL, ``g W^T`` with 64x64 blocks, calls ``torch.bmm`` itself.)"""
    if (NUMPY_MATMUL and a.device.type == b.device.type == "cpu"
            and a.dtype == b.dtype and a.dtype in (torch.float32, torch.float64)):
        if out is None:
            return torch.from_numpy(np.matmul(_numpy(a), _numpy(b)))
        np.matmul(_numpy(a), _numpy(b), out=_numpy(out))
        return out
    if a.dim() == 2:
        a = a.expand(b.shape[0], *a.shape)
    return torch.bmm(a, b) if out is None else torch.bmm(a, b, out=out)


# -- the batched model ---------------------------------------------------------------------------
@dataclass
class _Layer:
    kind: str  # linear | bn | ln | act
    module_index: int
    params: tuple[int, ...] = ()  # indices into _Ensemble.params
    head: bool = False  # the output Linear: stored (E, out, in), gives class-major logits (E, C, B)


class _Ensemble:
    """Stacked parameters of E members plus the batched forward pass and, for plain MLPs (Linear
    layers and elementwise activations), a hand-written backward pass (:meth:`backward`).

    Shapes: hidden Linear weight ``(E, in, out)`` (transposed, so a layer is ``h @ W + b``), bias
    ``(E, 1, out)``; the output Linear keeps nn.Linear's ``(E, C, in)`` with bias ``(E, C, 1)`` and
    gives class-major logits ``(E, C, B) = W h^T + b``: with C = 10 classes, products with
    a 10-wide last dimension and a softmax along it run several times slower than the same work with
    C first. Norm scale/shift ``(E, 1, width)``; prelu slopes ``(E, 1, P)``; swish beta ``(E, 1, 1)``:
    every per-member value broadcasts against ``(E, B, width)`` activations."""

    def __init__(self, configs: Sequence[TrialConfig], models: list[nn.Sequential]) -> None:
        self.configs = list(configs)
        self.E = E = len(models)
        self.params: list[torch.Tensor] = []
        self.names: list[str] = []
        self.weights: list[torch.Tensor] = []  # L1 applies to Linear weights only
        self.layers: list[_Layer] = []
        self.running: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self.act_slices: dict[int, list[tuple[int, int, nn.Module]]] = {}
        self.learnable_act: dict[int, str] = {}

        def add(name: str, tensors: list[torch.Tensor], shape: tuple[int, ...]) -> int:
            t = torch.stack([x.detach().reshape(shape) for x in tensors]).contiguous().requires_grad_(True)
            self.params.append(t)
            self.names.append(name)
            return len(self.params) - 1

        last = len(models[0]) - 1
        for i, m0 in enumerate(models[0]):
            mods = [m[i] for m in models]
            if isinstance(m0, nn.Linear):
                if i == last:
                    w = add(f"{i}.weight", [m.weight for m in mods], (m0.out_features, m0.in_features))
                    b = add(f"{i}.bias", [m.bias for m in mods], (m0.out_features, 1))
                else:
                    w = add(f"{i}.weight", [m.weight.T for m in mods], (m0.in_features, m0.out_features))
                    b = add(f"{i}.bias", [m.bias for m in mods], (1, m0.out_features))
                self.weights.append(self.params[w])
                self.layers.append(_Layer("linear", i, (w, b), head=i == last))
            elif isinstance(m0, (nn.BatchNorm1d, nn.LayerNorm)):
                n = m0.weight.numel()
                w = add(f"{i}.weight", [m.weight for m in mods], (1, n))
                b = add(f"{i}.bias", [m.bias for m in mods], (1, n))
                if isinstance(m0, nn.BatchNorm1d):
                    self.running[i] = (torch.cat([m.running_mean for m in mods]).clone(),
                                       torch.cat([m.running_var for m in mods]).clone())
                    self.bn_eps, self.bn_momentum = m0.eps, m0.momentum
                    self.layers.append(_Layer("bn", i, (w, b)))
                else:
                    self.ln_eps = m0.eps
                    self.layers.append(_Layer("ln", i, (w, b)))
            elif isinstance(m0, Activation):
                own = list(m0.named_parameters(recurse=False))
                if own:
                    (pname, p0), = own
                    shape = (1, p0.numel()) if m0.name == "prelu" else (1, 1)
                    k = add(f"{i}.{pname}", [getattr(m, pname) for m in mods], shape)
                    self.learnable_act[i] = m0.name
                    self.layers.append(_Layer("act", i, (k,)))
                else:
                    # contiguous runs of members with equal module configs share one call
                    runs: list[tuple[int, int, nn.Module]] = []
                    for e, mod in enumerate(mods):
                        if runs and runs[-1][2].get_config() == mod.get_config():
                            runs[-1] = (runs[-1][0], e + 1, runs[-1][2])
                        else:
                            runs.append((e, e + 1, mod))
                    self.act_slices[i] = runs
                    self.layers.append(_Layer("act", i))
            else:  # pragma: no cover - mlp() builds only these
                raise TypeError(f"cannot ensemble a {type(m0).__name__} layer")
        assert all(p.shape[0] == E for p in self.params)
        assert self.layers[-1].head
        # Linear layers and elementwise activations only: the backward pass is written out by hand.
        def elementwise(i: int) -> bool:
            return i in self.act_slices and all(
                mod.spec.properties(**mod.params).elementwise for _, _, mod in self.act_slices[i])

        self.manual = all(layer.kind == "linear" or elementwise(layer.module_index) for layer in self.layers)

    def forward(self, x: torch.Tensor, train: bool) -> torch.Tensor:
        """``x``: ``(E, B, F)`` per-member batches or ``(N, F)`` shared by all -> class-major logits
        ``(E, C, B)``."""
        P = self.params
        grad = torch.is_grad_enabled()
        h = x if x.dim() == 3 or not grad else x.expand(self.E, *x.shape)
        for layer in self.layers:
            i = layer.module_index
            if layer.kind == "linear":
                w, b = (P[j] for j in layer.params)
                if not grad and not layer.head:
                    h = _bmm(h, w).add_(b)
                    continue
                h = h.expand(self.E, *h.shape) if h.dim() == 2 else h
                h = torch.baddbmm(b, w, h.transpose(1, 2)) if layer.head else torch.baddbmm(b, h, w)
            elif layer.kind == "bn":
                E, B, W = h.shape
                if train and B == 1:
                    raise ValueError("Expected more than 1 value per channel when training (BatchNorm)")
                rm, rv = self.running[i]
                g, b = (P[j].reshape(-1) for j in layer.params)
                flat = F.batch_norm(h.transpose(0, 1).reshape(B, E * W), rm, rv, g, b, training=train,
                                    momentum=self.bn_momentum, eps=self.bn_eps)
                h = flat.reshape(B, E, W).transpose(0, 1)
            elif layer.kind == "ln":
                g, b = (P[j] for j in layer.params)
                h = torch.addcmul(b, F.layer_norm(h, (h.shape[-1],), eps=self.ln_eps), g)
            elif i in self.learnable_act:
                p = P[layer.params[0]]
                if self.learnable_act[i] == "prelu":  # F.prelu: x if x > 0 else a * x
                    h = torch.where(h > 0, h, p * h)
                else:  # swish-beta: x * sigmoid(beta * x)
                    h = h * torch.sigmoid(p * h)
            else:
                h = self._act(i, h)
        return h

    def _act(self, i: int, z: torch.Tensor) -> torch.Tensor:
        runs = self.act_slices[i]
        if len(runs) == 1 and runs[0][2].name == "relu" and not torch.is_grad_enabled():
            return torch.relu_(z)  # z is a fresh layer output, needed by nobody else
        return runs[0][2](z) if len(runs) == 1 else torch.cat([mod(z[a:b]) for a, b, mod in runs])

    @torch.no_grad()
    def forward_tape(self, x: torch.Tensor) -> tuple[torch.Tensor, list[Any]]:
        """Training forward pass of a plain MLP (:attr:`manual`) for :meth:`backward`: class-major
        logits ``(E, C, B)`` and what the backward pass needs (a Linear's input; an activation's
        pre-activation - none for relu, whose derivative comes from its output - and output)."""
        P = self.params
        tape: list[Any] = []
        h = x
        for layer in self.layers:
            if layer.kind == "linear":
                tape.append(h)
                w, b = (P[j] for j in layer.params)
                h = _bmm(w, h.transpose(1, 2)) if layer.head else _bmm(h, w)
                h.add_(b)
            else:
                runs = self.act_slices[layer.module_index]
                z, h = h, self._act(layer.module_index, h)
                tape.append((None if runs[0][2].name == "relu" and len(runs) == 1 else z, h))
        return h, tape

    @torch.no_grad()
    def backward(self, tape: list[Any], g: torch.Tensor, grads: list[torch.Tensor],
                 l1: torch.Tensor | None = None, sgd: tuple[torch.Tensor, torch.Tensor | None] | None = None
                 ) -> None:
        r"""Backpropagation written out for a plain MLP (what autograd does, without its graph and
        bookkeeping). ``g``: the gradient of the loss sum with respect to the class-major logits; a
        Linear :math:`h_{out} = h W + b` gives :math:`\partial W = h^T g`, :math:`\partial b =
        \sum_B g`, :math:`g \leftarrow g W^T`; an activation :math:`g \leftarrow g \odot f'(z)` with
        the catalog's closed-form :math:`f'` (relu: ``threshold_backward`` on the output, as
        autograd); L1 (``l1``: ``(E, 1, 1)``) adds :math:`\lambda\, \mathrm{sign}(W)`.

        Gradients go into ``grads`` (one buffer per parameter), or with ``sgd = (lr, wd)`` (``(E, 1,
        1)`` columns; ``g`` already multiplied by ``lr``) plain SGD is applied in place as it goes,
        :math:`W \leftarrow W (1 - \eta\lambda_2) - \eta \lambda_1 \mathrm{sign}(W) - h^T (\eta g)`
        (torch.optim.SGD's step: L2 weight decay added to the gradient), layer by layer, after
        ``g W^T`` has used the old weights: no gradient buffer is kept.
        """
        P = self.params
        thr = torch.ops.aten.threshold_backward
        for k in range(len(self.layers) - 1, -1, -1):
            layer, saved = self.layers[k], tape[k]
            if layer.kind != "linear":
                z, out = saved
                if z is None:  # relu, in place: g is a fresh matmul output
                    g = thr.grad_input(g, out, 0.0, grad_input=g)
                else:
                    runs = self.act_slices[layer.module_index]
                    d = runs[0][2].derivative(z) if len(runs) == 1 else torch.cat(
                        [mod.derivative(z[a:b]) for a, b, mod in runs])
                    g = g.mul_(d)
                continue
            jw, jb = layer.params
            w, b = P[jw], P[jb]
            # h^T g for the weight, sum over the batch for the bias, g W^T for the layer below
            if layer.head:  # g (E, C, B), W (E, C, in)
                h_t, g_w, sum_dim = saved, g, 2
                g_below = _bmm(g.transpose(1, 2), w) if k else g
            else:
                h_t, g_w, sum_dim = saved.transpose(1, 2), g, 1
                g_below = torch.bmm(g, w.transpose(1, 2)) if k else g  # numpy: its slow (n, t) case
            if sgd is None:
                if layer.head:
                    _bmm(g_w, h_t, out=grads[jw])
                else:
                    _bmm(h_t, g_w, out=grads[jw])
                torch.sum(g, sum_dim, keepdim=True, out=grads[jb])
                if l1 is not None:
                    grads[jw].addcmul_(w.sign(), l1)
            else:
                lr, wd = sgd
                sign = w.sign() if l1 is not None else None
                if wd is not None:
                    decay = torch.addcmul(torch.ones_like(lr), lr, wd, value=-1.0)
                    w.mul_(decay)
                    b.mul_(decay)
                if sign is not None:
                    w.addcmul_(sign, lr * l1, value=-1.0)
                w.sub_(_bmm(g_w, h_t) if layer.head else _bmm(h_t, g_w))
                b.sub_(g.sum(sum_dim, keepdim=True))
            g = g_below

    def l1(self) -> torch.Tensor:
        """Per-member sum of absolute Linear weights, ``(E,)``."""
        return sum(w.abs().sum((1, 2)) for w in self.weights)  # type: ignore[return-value]

    def learned(self, e: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for layer in self.layers:
            if layer.module_index in self.learnable_act:
                j = layer.params[0]
                vals = self.params[j][e].detach().flatten().tolist()
                out[self.names[j]] = vals[0] if len(vals) == 1 else vals
        return out


class _Optimizer:
    """torch.optim's update rules on the stacked tensors with per-member hyper-parameters: every
    step is a few ``torch._foreach_*`` calls over all layers at once."""

    def __init__(self, configs: Sequence[TrialConfig], params: list[torch.Tensor]) -> None:
        def cols(values: list[float]) -> list[torch.Tensor]:
            t = torch.tensor(values, dtype=params[0].dtype)
            return [t.view(-1, *([1] * (p.dim() - 1))) for p in params]

        self.kind = configs[0].optimizer
        self.params = params
        self.lr = torch.tensor([c.lr for c in configs], dtype=params[0].dtype).view(-1, 1, 1)
        #: plain SGD's update is applied inside the hand-written backward pass: (lr, wd) columns
        self.sgd = (self.lr, torch.tensor([c.weight_decay for c in configs], dtype=params[0].dtype).view(
            -1, 1, 1) if any(c.weight_decay for c in configs) else None)
        self.neg_lr = cols([-c.lr for c in configs])
        self.wd = cols([c.weight_decay for c in configs])
        self.any_wd = any(c.weight_decay for c in configs)
        self.mu = cols([c.momentum for c in configs])
        n_state = {"sgd": 0, "momentum": 1, "adam": 2, "adagrad": 1}[self.kind]
        self.state = [[torch.zeros_like(p) for p in params] for _ in range(n_state)]
        self.t = 0

    @torch.no_grad()
    def step(self, grads: list[torch.Tensor]) -> None:
        P = self.params
        g = grads
        self.t += 1
        if self.any_wd:  # L2 as torch.optim: grad + weight_decay * param
            g = torch._foreach_addcmul(g, P, self.wd)
        if self.kind == "sgd":
            torch._foreach_addcmul_(P, self.neg_lr, g)
        elif self.kind == "momentum":
            buf = self.state[0]
            if self.t == 1:
                torch._foreach_copy_(buf, g)
            else:
                torch._foreach_mul_(buf, self.mu)
                torch._foreach_add_(buf, g)
            torch._foreach_addcmul_(P, self.neg_lr, buf)
        elif self.kind == "adam":
            m, v = self.state
            b1, b2, eps = 0.9, 0.999, 1e-8
            torch._foreach_lerp_(m, g, 1 - b1)
            torch._foreach_mul_(v, b2)
            torch._foreach_addcmul_(v, g, g, 1 - b2)
            bc1, bc2 = 1 - b1**self.t, 1 - b2**self.t
            denom = torch._foreach_sqrt(v)
            torch._foreach_div_(denom, math.sqrt(bc2))
            torch._foreach_add_(denom, eps)
            upd = torch._foreach_div(m, denom)
            torch._foreach_addcmul_(P, self.neg_lr, upd, 1 / bc1)
        else:  # adagrad (lr_decay 0, initial accumulator 0, eps 1e-10)
            s = self.state[0]
            torch._foreach_addcmul_(s, g, g, 1.0)
            std = torch._foreach_sqrt(s)
            torch._foreach_add_(std, 1e-10)
            torch._foreach_addcmul_(P, self.neg_lr, torch._foreach_div(g, std))

    @torch.no_grad()
    def freeze(self, members: torch.Tensor) -> None:
        """Stop members (a bool mask): zero their parameters, state and learning rate."""
        self.lr[members] = 0.0
        for p, lr in zip(self.params, self.neg_lr):
            p[members] = 0.0
            lr[members] = 0.0
        for state in self.state:
            for s in state:
                s[members] = 0.0


def _member_ce(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy per member: class-major logits ``(E, C, B)``, labels ``(E, B)`` -> ``(E,)``."""
    return F.cross_entropy(logits, y, reduction="none").mean(1)


def _hits(logits: torch.Tensor, target: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per member, how many samples have ``logits.argmax(1) == y`` (class-major ``(E, C, n)``
    logits; ``target``: the labels as ``(E, 1, n)``). ``argmax`` along the 10-long strided class
    dimension is ~100x slower than ``amax``, so: the label's logit equals the maximum, and where the
    maximum is not unique (ties, NaN) ``argmax`` itself decides."""
    top = logits.amax(1, keepdim=True)
    if bool(((logits == top).sum(1) == 1).all()):
        return (logits.gather(1, target) == top).sum((1, 2))
    return (logits.argmax(1) == y).sum(1)


def _members_order(configs: Sequence[TrialConfig]) -> list[int]:
    """Members sorted so that equal activation configs are contiguous (one call per run)."""
    return sorted(range(len(configs)), key=lambda i: (configs[i].act, sorted(configs[i].act_params.items())))


def run_ensemble(configs: Sequence[TrialConfig]) -> list[TrialResult]:
    """Train compatible configs (:func:`group_key` equal) together; results in input order."""
    keys = {group_key(c) for c in configs}
    if len(keys) != 1 or None in keys:
        raise ValueError("run_ensemble needs configs with one common, non-None group_key")
    # numpy's BLAS (see _bmm) with torch's thread count (one per sweep worker), and as quiet as
    # torch about the overflow of a diverging member
    with (threadpool_limits(torch.get_num_threads(), user_api="blas"),
          np.errstate(over="ignore", invalid="ignore")):
        return _train(configs)


def _train(configs: Sequence[TrialConfig]) -> list[TrialResult]:
    order = _members_order(configs)
    cs = [configs[i] for i in order]
    t_start = time.perf_counter()
    ds = dataset_for(cs[0])
    E = len(cs)
    gens = [streams(c) for c in cs]
    models = []
    for c, (g_init, _) in zip(cs, gens):
        torch.manual_seed(c.seed)  # as run_trial (no ensembled activation draws from it)
        models.append(build_model(c, ds, g_init))
    ens = _Ensemble(cs, models)
    opt = _Optimizer(cs, ens.params)
    l1 = torch.tensor([c.l1 for c in cs])
    any_l1 = any(c.l1 for c in cs)
    x, y = ds.x_train, ds.y_train
    n, bs = len(y), cs[0].batch_size
    max_steps = cs[0].max_steps
    epochs: list[list[dict[str, Any]]] = [[] for _ in cs]
    status = ["ok"] * E
    extra: list[dict[str, Any]] = [{} for _ in cs]
    steps = [0] * E
    active = torch.ones(E, dtype=torch.bool)
    wall = 0.0

    # Evaluate in chunks of samples: (E, chunk, width) blocks of at most ~256K floats (in cache).
    widest = max(cs[0].width * int(cs[0].act_params.get("k", 1)), ds.n_classes, ds.n_features)
    chunk = max(1, (1 << 18) // (E * widest))

    def mark_diverged(bad: torch.Tensor, epoch: int, step: int) -> None:
        for e in (bad & active).nonzero().flatten().tolist():
            status[e] = "diverged"
            extra[e] = {"diverged_epoch": epoch, "diverged_step": step}
            steps[e] = step
        active.logical_and_(~bad)

    @torch.inference_mode()
    def record(epoch: int, step: int) -> None:
        split_metrics = []
        for xs, ys in ((x, y), (ds.x_test, ds.y_test)):
            # forward in chunks, the metrics in one pass over the split's (E, C, n) logits
            logits = torch.cat([ens.forward(xs[a:a + chunk], train=False)
                                for a in range(0, len(ys), chunk)], 2)
            target = ys.view(1, 1, -1).expand(E, 1, -1)
            loss_sum = -torch.log_softmax(logits, 1).gather(1, target).sum((1, 2))
            correct = _hits(logits, target, ys)
            n_split = len(ys)
            split_metrics.append(((loss_sum / n_split).tolist(), (correct / n_split).tolist()))
        (trl, tra), (tel, tea) = split_metrics
        for e in range(E):
            if status[e] != "ok":
                continue
            epochs[e].append(epoch_record(epoch, step, wall / E, (trl[e], tra[e]), (tel[e], tea[e])))
        mark_diverged(~torch.isfinite(torch.tensor(trl)), epoch, step)
        opt.freeze(~active)

    record(0, 0)
    step = 0
    limit = max_steps if max_steps is not None else cs[0].epochs * steps_per_epoch(n, bs)
    manual = ens.manual
    fused = manual and opt.kind == "sgd"  # the SGD step happens inside the backward pass
    grads = [torch.zeros_like(p) for p in ens.params] if manual and not fused else []
    l1_col = l1.view(E, 1, 1) if any_l1 else None
    for epoch in range(1, cs[0].epochs + 1):
        if not bool(active.any()):
            break
        all_active = bool(active.all())
        t = time.perf_counter()
        perms = torch.stack([torch.randperm(n, generator=g_order) for _, g_order in gens])
        for i in range(0, n, bs):
            idx = perms[:, i:i + bs].reshape(-1)
            xb = x.index_select(0, idx).view(E, -1, x.shape[1])
            yb = y.index_select(0, idx).view(E, -1)
            if manual:
                logits, tape = ens.forward_tape(xb)
                B = yb.shape[1]
                target = yb.view(E, 1, B)
                with torch.no_grad():
                    lsm = torch.log_softmax(logits, 1)
                    losses = lsm.gather(1, target).sum((1, 2)).mul_(-1.0 / B)  # mean CE per member
                    if any_l1:
                        losses += l1 * ens.l1()
            else:
                losses = _member_ce(ens.forward(xb, train=True), yb)
                if any_l1:
                    losses = losses + l1 * ens.l1()
            # one sync per step; per member only when something is not finite (frozen members are)
            if not math.isfinite(losses.detach().sum().item()):
                mark_diverged(~torch.isfinite(losses.detach()), epoch, step)
                all_active = bool(active.all())
                opt.freeze(~active)
            if manual:
                with torch.no_grad():  # d(sum of mean CEs)/d logits = (softmax - onehot) / B
                    g = lsm.exp_()
                    g.scatter_add_(1, target, torch.full((E, 1, B), -1.0, dtype=g.dtype))
                    g.mul_(opt.lr / B if fused else 1.0 / B)
                ens.backward(tape, g, grads, l1_col, opt.sgd if fused else None)
            else:
                for p in ens.params:
                    p.grad = None
                losses.sum().backward()
                grads = [p.grad for p in ens.params]
            if not all_active:
                with torch.no_grad():
                    for gr in grads:
                        gr[~active] = 0.0
                opt.freeze(~active)  # also undoes a fused step of a member that just diverged
            if not fused:
                opt.step(grads)
            step += 1
            if step >= limit:
                break
        wall += time.perf_counter() - t
        last = epoch == cs[0].epochs or step >= limit
        if last or epoch % cs[0].eval_every == 0:
            record(epoch, step)
        if last:
            break
    results: list[TrialResult | None] = [None] * E
    for e, c in enumerate(cs):
        r = finish(c, status[e], epochs[e], steps[e] if status[e] == "diverged" else step, ens.learned(e),
                   extra[e])
        r.final["ensemble_size"] = E
        r.wall_s = (time.perf_counter() - t_start) / E
        results[order[e]] = r
    return [r for r in results if r is not None]
