r"""Models shared by every experiment: an MLP and a small CNN with any catalog activation and every
classic initialisation, built reproducibly from a seed.

Initialisations (``init=``), for a layer with fan-in :math:`n_{in}` and fan-out :math:`n_{out}`;
biases are 0 unless stated (``bias_init`` sets a constant, ``sigma_b2`` Gaussian biases):

* ``default``: PyTorch's ``nn.Linear``/``nn.Conv`` default, weights and biases
  :math:`U(\pm 1/\sqrt{n_{in}})`.
* ``xavier_uniform``: :math:`U(\pm g\sqrt{6/(n_{in}+n_{out})})`; ``xavier_normal``:
  :math:`N(0,\ 2g^2/(n_{in}+n_{out}))` (Glorot & Bengio 2010).
* ``kaiming_uniform``: :math:`U(\pm g\sqrt{3/n_{in}})`; ``kaiming_normal`` ("He init"):
  :math:`N(0,\ g^2/n_{in})` with :math:`g = \sqrt{2/(1+a^2)}` (He et al. 2015).
* ``lecun_normal``: :math:`N(0,\ 1/n_{in})` (LeCun et al. 1998; the SELU paper's init).
* ``orthogonal``: :math:`g\,Q`, :math:`Q` a random (semi-)orthogonal matrix (Saxe et al. 2014).
* ``sigma``: :math:`N(0,\ \sigma_w^2/n_{in})`, biases :math:`N(0, \sigma_b^2)` (mean-field
  initialisation, Poole et al. 2016; Schoenholz et al. 2017).

The gain :math:`g` is 1 for Xavier and orthogonal (the papers' choice; pass ``gain=`` to change
it). For Kaiming, :math:`a` is the negative slope of the network's activation when it has one
(leaky_relu's ``negative_slope``, prelu's initial ``init``, rrelu's mean slope
:math:`(l+u)/2`) and 0 for every other activation, so ``kaiming_*`` is always He et al.'s
:math:`\mathrm{Var}[w] = 2/((1+a^2) n_{in})` - derived for the ReLU family - and *not* adapted to
tanh or sigmoid. That is what PyTorch users get from ``kaiming_normal_`` and what claims like
"use He init for ReLU, Xavier for tanh" refer to. Passing ``sigma_w2`` selects ``sigma``
(mean-field) initialisation: the edge of chaos for tanh is :math:`\sigma_w^2 \approx 1`,
:math:`\sigma_b^2 \approx 0` (:mod:`actlab.theory`).

Every layer, the head included, is initialised by the same rule, as PyTorch's ``apply(init)``
loops do. All random draws come from one ``torch.Generator`` (``seed=``), so equal seeds give equal
models and the global RNG is left untouched.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

import actlab

__all__ = ["INITS", "NORMS", "RecurrentClassifier", "init_weights", "kaiming_slope", "make_activation", "mlp",
           "recurrent", "small_cnn"]

INITS = ("default", "xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal",
         "lecun_normal", "orthogonal", "sigma")
NORMS = ("none", "batch", "layer")


def _generator(generator: torch.Generator | None, seed: int | None) -> torch.Generator | None:
    if generator is not None and seed is not None:
        raise ValueError("pass either generator= or seed=, not both")
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed={seed!r} is invalid; valid: an integer")
        return torch.Generator().manual_seed(seed)
    return generator


def make_activation(act: str | Mapping[str, Any] | nn.Module = "relu",
                    act_params: Mapping[str, Any] | None = None) -> nn.Module:
    """A fresh catalog module: ``make_activation("leaky_relu", {"negative_slope": 0.2})``."""
    if isinstance(act, nn.Module):
        if act_params:
            raise ValueError("act_params cannot be combined with an activation module")
        import copy

        return copy.deepcopy(act)
    return actlab.get(act, **dict(act_params or {}))


def kaiming_slope(act: str | Mapping[str, Any] | nn.Module | None, act_params: Mapping[str, Any] | None
                  = None) -> float:
    """The negative slope ``a`` in He et al.'s gain :math:`\\sqrt{2/(1+a^2)}` for an activation.

    leaky_relu: ``negative_slope``; prelu: its initial slope ``init``; rrelu: the mean slope
    ``(lower + upper) / 2``; every other activation: 0 (He et al.'s ReLU formula)."""
    if act is None:
        return 0.0
    module = act if isinstance(act, nn.Module) else make_activation(act, act_params)
    try:
        p = actlab.serialize(module)
    except TypeError:  # a module actlab does not know: He's ReLU formula
        return 0.0
    name = p.get("name")
    if name == "leaky_relu":
        return float(p["negative_slope"])
    if name == "prelu":
        return float(p["init"])
    if name == "rrelu":
        return 0.5 * (float(p["lower"]) + float(p["upper"]))
    return 0.0


def _fans(w: torch.Tensor) -> tuple[int, int]:
    receptive = math.prod(w.shape[2:]) if w.dim() > 2 else 1
    return w.shape[1] * receptive, w.shape[0] * receptive


@torch.no_grad()
def init_weights(
    model: nn.Module,
    init: str = "default",
    *,
    act: str | Mapping[str, Any] | nn.Module | None = None,
    act_params: Mapping[str, Any] | None = None,
    sigma_w2: float | None = None,
    sigma_b2: float | None = None,
    bias_init: float | None = None,
    gain: float | None = None,
    generator: torch.Generator | None = None,
    seed: int | None = None,
) -> nn.Module:
    """(Re-)initialise every ``nn.Linear`` / ``nn.Conv*`` of ``model`` in place (see the module
    docstring for the formulas); normalisation layers are reset to weight 1, bias 0.

    Args:
        init: one of :data:`INITS`; ``sigma`` needs ``sigma_w2`` (passing ``sigma_w2`` with
            ``init="default"`` selects ``sigma``).
        act, act_params: the network's activation, for the Kaiming slope.
        sigma_w2: weight variance times fan-in (``sigma`` init).
        sigma_b2: bias variance: biases :math:`N(0, \\sigma_b^2)` (any init; 0 by default).
        bias_init: a constant for every bias (e.g. 0.01 to keep ReLU units alive); excludes
            ``sigma_b2``.
        gain: overrides the gain of xavier / kaiming / orthogonal.
        generator, seed: source of the random draws (default: the global RNG).
    """
    init = _check_init(init, sigma_w2, sigma_b2, bias_init)
    g = _generator(generator, seed)
    if init in ("kaiming_uniform", "kaiming_normal") and gain is None:
        a = kaiming_slope(act, act_params)
        gain = math.sqrt(2.0 / (1.0 + a * a))
    gain = 1.0 if gain is None else float(gain)
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            w, b = m.weight, m.bias
            fan_in, fan_out = _fans(w)
            if init == "default":
                bound = 1.0 / math.sqrt(fan_in)  # = kaiming_uniform_(a=sqrt(5)), as nn.Linear does
                w.uniform_(-bound, bound, generator=g)
                if b is not None:
                    b.uniform_(-bound, bound, generator=g)
            elif init == "xavier_uniform":
                bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
                w.uniform_(-bound, bound, generator=g)
            elif init == "xavier_normal":
                w.normal_(0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator=g)
            elif init == "kaiming_uniform":
                bound = gain * math.sqrt(3.0 / fan_in)
                w.uniform_(-bound, bound, generator=g)
            elif init == "kaiming_normal":
                w.normal_(0.0, gain / math.sqrt(fan_in), generator=g)
            elif init == "lecun_normal":
                w.normal_(0.0, 1.0 / math.sqrt(fan_in), generator=g)
            elif init == "orthogonal":
                nn.init.orthogonal_(w, gain=gain, generator=g)
            elif init == "sigma":
                w.normal_(0.0, math.sqrt(float(sigma_w2) / fan_in), generator=g)  # type: ignore[arg-type]
            if b is not None:
                if bias_init is not None:
                    b.fill_(float(bias_init))
                elif sigma_b2 is not None:
                    if sigma_b2 > 0:
                        b.normal_(0.0, math.sqrt(float(sigma_b2)), generator=g)
                    else:
                        b.zero_()
                elif init != "default":
                    b.zero_()
        elif isinstance(getattr(m, "weight_hh", None), torch.Tensor):
            _init_recurrent_cell(m, init, gain, g)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm)):
            if getattr(m, "weight", None) is not None:
                m.weight.fill_(1.0)
            if getattr(m, "bias", None) is not None:
                m.bias.zero_()
    return model


def _init_recurrent_cell(cell: nn.Module, init: str, gain: float, g: torch.Generator | None) -> None:
    """LSTM/GRU cells: ``default`` is PyTorch's U(+-1/sqrt(hidden)) for every weight and bias;
    ``orthogonal`` makes each gate's block of ``weight_ih`` and ``weight_hh`` (semi-)orthogonal
    (Saxe et al. 2014) with zero biases. Other inits are not defined for recurrent cells."""
    hidden = cell.weight_hh.shape[1]
    if init == "default":
        bound = 1.0 / math.sqrt(hidden)
        for p in cell.parameters(recurse=False):
            p.uniform_(-bound, bound, generator=g)
    elif init == "orthogonal":
        for name in ("weight_ih", "weight_hh"):
            for block in getattr(cell, name).split(hidden, dim=0):
                nn.init.orthogonal_(block, gain=gain, generator=g)
        for name in ("bias_ih", "bias_hh"):
            if getattr(cell, name, None) is not None:
                getattr(cell, name).zero_()
    else:
        raise ValueError(f"init {init!r} is not defined for recurrent cells; valid: default, orthogonal")


def _check_init(init: str, sigma_w2: float | None, sigma_b2: float | None, bias_init: float | None) -> str:
    if not isinstance(init, str) or init not in INITS:
        raise ValueError(f"unknown init {init!r}; valid: {', '.join(INITS)} (sigma: explicit variances "
                         "sigma_w2, sigma_b2)")
    if sigma_w2 is not None:
        if init == "default":
            init = "sigma"
        elif init != "sigma":
            raise ValueError(f"sigma_w2 sets the 'sigma' init and cannot be combined with init={init!r} "
                             "(pass init='sigma', on the command line --init sigma)")
        if not (isinstance(sigma_w2, (int, float)) and math.isfinite(sigma_w2) and sigma_w2 > 0):
            raise ValueError(f"sigma_w2={sigma_w2!r} is invalid; valid: a number > 0")
    elif init == "sigma":
        raise ValueError("init='sigma' needs sigma_w2 (weights N(0, sigma_w2 / fan_in))")
    if sigma_b2 is not None and not (
            isinstance(sigma_b2, (int, float)) and math.isfinite(sigma_b2) and sigma_b2 >= 0):
        raise ValueError(f"sigma_b2={sigma_b2!r} is invalid; valid: a number >= 0")
    if bias_init is not None:
        if sigma_b2 is not None:
            raise ValueError("pass either bias_init (constant biases) or sigma_b2 (Gaussian biases), "
                             "not both")
        if not (isinstance(bias_init, (int, float)) and math.isfinite(bias_init)):
            raise ValueError(f"bias_init={bias_init!r} is invalid; valid: a finite number")
    return init


def _norm_name(norm: str | None) -> str:
    n = "none" if norm is None else norm
    if n not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; valid: {', '.join(NORMS)} (or None)")
    return n


def _act_name(act: str | Mapping[str, Any] | nn.Module, act_params: Mapping[str, Any] | None) -> tuple[
        str | None, dict[str, Any]]:
    if isinstance(act, nn.Module):
        try:
            config = actlab.serialize(act)
        except TypeError:
            return None, {}
        return str(config["name"]), {k: v for k, v in config.items() if k != "name"}
    if isinstance(act, Mapping):
        config = dict(act)
        return actlab.canonical(str(config.pop("name"))), {**config, **dict(act_params or {})}
    return actlab.canonical(act), dict(act_params or {})


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name}={value!r} is invalid; valid: an integer >= {low}")
    return value


def mlp(
    in_features: int,
    out_features: int,
    depth: int,
    width: int,
    act: str | Mapping[str, Any] | nn.Module = "relu",
    act_params: Mapping[str, Any] | None = None,
    init: str = "default",
    sigma_w2: float | None = None,
    sigma_b2: float | None = None,
    bias_init: float | None = None,
    norm: str | None = None,
    *,
    gain: float | None = None,
    generator: torch.Generator | None = None,
    seed: int | None = None,
) -> nn.Sequential:
    """A multilayer perceptron: ``depth`` hidden layers of ``width`` units, then a linear head.

    Each hidden layer is ``Linear -> [BatchNorm1d | LayerNorm] -> activation``; with ``maxout``
    (k pieces) the Linear has ``k * width`` outputs so that every hidden layer still has ``width``
    units. ``depth=0`` is a linear (softmax-regression) model.

    Args:
        act, act_params: a catalog name (or alias) and its parameters, a config dict, or a module
            (deep-copied per layer).
        init, sigma_w2, sigma_b2, bias_init, gain: see :func:`init_weights`.
        norm: ``None``/``"none"``, ``"batch"`` or ``"layer"``.
        generator, seed: the random source of the initialisation.

    Example::

        >>> net = actlab.nets.mlp(64, 10, depth=4, width=64, act="tanh", init="xavier_normal", seed=0)
    """
    _check_int("in_features", in_features, 1)
    _check_int("out_features", out_features, 1)
    _check_int("depth", depth, 0)
    _check_int("width", width, 1)
    norm = _norm_name(norm)
    name, _ = _act_name(act, act_params)
    _check_init(init, sigma_w2, sigma_b2, bias_init)
    k = 1
    if name == "maxout":
        k = int(make_activation(act, act_params).params["k"])
    elif name == "prelu":
        p = int(make_activation(act, act_params).params["num_parameters"])
        if p not in (1, width):
            raise ValueError(f"prelu num_parameters={p} does not fit width={width}; valid: 1 or {width}")
    layers: list[nn.Module] = []
    fan_in = in_features
    for _ in range(depth):
        layers.append(nn.utils.skip_init(nn.Linear, fan_in, width * k))
        if norm == "batch":
            layers.append(nn.BatchNorm1d(width * k))
        elif norm == "layer":
            layers.append(nn.LayerNorm(width * k))
        layers.append(make_activation(act, act_params))
        fan_in = width
    layers.append(nn.utils.skip_init(nn.Linear, fan_in, out_features))
    model = nn.Sequential(*layers)
    init_weights(model, init, act=act, act_params=act_params, sigma_w2=sigma_w2, sigma_b2=sigma_b2,
                 bias_init=bias_init, gain=gain, generator=_generator(generator, seed))
    return model


def small_cnn(
    in_shape: Sequence[int] = (1, 8, 8),
    n_classes: int = 10,
    channels: Sequence[int] = (16, 32),
    act: str | Mapping[str, Any] | nn.Module = "relu",
    act_params: Mapping[str, Any] | None = None,
    init: str = "default",
    sigma_w2: float | None = None,
    sigma_b2: float | None = None,
    bias_init: float | None = None,
    norm: str | None = None,
    kernel_size: int = 3,
    *,
    gain: float | None = None,
    generator: torch.Generator | None = None,
    seed: int | None = None,
) -> nn.Sequential:
    """A small CNN for little images such as digits' 8x8 (takes flat ``(N, C*H*W)`` input too).

    One block per entry of ``channels``: ``Conv2d(k x k, same padding) -> [BatchNorm2d |
    GroupNorm(1, c) (layer norm over C, H, W)] -> activation -> MaxPool2d(2)`` (the pool only
    while the map is at least 4 pixels wide, so 8x8 -> 4x4 -> 2x2 and deeper blocks keep 2x2), then
    ``Flatten -> Linear(n_classes)``. Channel-wise activations (prelu per channel, maxout,
    softmax) act along the channel dimension.
    """
    if len(in_shape) != 3 or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in in_shape):
        raise ValueError(f"in_shape={tuple(in_shape)!r} is invalid; valid: (channels, height, width)")
    _check_int("n_classes", n_classes, 1)
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size % 2 == 0 \
            or kernel_size < 1:
        raise ValueError(f"kernel_size={kernel_size!r} is invalid; valid: an odd integer >= 1")
    if not channels:
        raise ValueError("channels is empty; valid: one positive integer per conv block")
    for c in channels:
        _check_int("channels", c, 1)
    norm = _norm_name(norm)
    name, params = _act_name(act, act_params)
    _check_init(init, sigma_w2, sigma_b2, bias_init)
    if name in ("maxout", "softmax", "log_softmax") and not isinstance(act, nn.Module):
        params = {**params, "dim": 1}  # along channels
    k = int(params.get("k", 2)) if name == "maxout" else 1
    c_in, h, w = in_shape
    layers: list[nn.Module] = [nn.Unflatten(1, tuple(in_shape))]
    for c in channels:
        layers.append(nn.utils.skip_init(nn.Conv2d, c_in, c * k, kernel_size, padding=kernel_size // 2))
        if norm == "batch":
            layers.append(nn.BatchNorm2d(c * k))
        elif norm == "layer":
            layers.append(nn.GroupNorm(1, c * k))
        layers.append(make_activation(act if isinstance(act, nn.Module) or name is None else name,
                                      None if isinstance(act, nn.Module) else params))
        if min(h, w) >= 4:
            layers.append(nn.MaxPool2d(2))
            h, w = h // 2, w // 2
        c_in = c
    layers += [nn.Flatten(), nn.utils.skip_init(nn.Linear, c_in * h * w, n_classes)]
    model = nn.Sequential(*layers)
    init_weights(model, init, act=act, act_params=act_params, sigma_w2=sigma_w2, sigma_b2=sigma_b2,
                 bias_init=bias_init, gain=gain, generator=_generator(generator, seed))
    return model


class RecurrentClassifier(nn.Module):
    """Reads each sample as a sequence and classifies from the last hidden state.

    ``x`` of shape ``(N, steps * step_features)`` is viewed as ``(N, steps, step_features)``
    (digits: 8 rows of 8 pixels; a vector of features: one feature per step, as in bit-by-bit
    parity), run through an :class:`actlab.noisy.recurrent.LSTM` / ``GRU`` and a linear head.
    """

    def __init__(self, rnn: nn.Module, head: nn.Linear, steps: int, step_features: int) -> None:
        super().__init__()
        self.rnn, self.head = rnn, head
        self.steps, self.step_features = steps, step_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x.reshape(x.shape[0], self.steps, self.step_features))
        return self.head(out[:, -1])


def recurrent(
    kind: str,
    steps: int,
    step_features: int,
    out_features: int,
    depth: int = 1,
    width: int = 32,
    act: str | Mapping[str, Any] | nn.Module = "tanh",
    act_params: Mapping[str, Any] | None = None,
    gate_act: str | Mapping[str, Any] | nn.Module | None = None,
    init: str = "default",
    *,
    gain: float | None = None,
    generator: torch.Generator | None = None,
    seed: int | None = None,
) -> RecurrentClassifier:
    """An LSTM or GRU classifier (``kind`` "lstm"/"gru") of ``depth`` layers of ``width`` units
    whose candidate (and LSTM cell) activation is ``act`` and gates ``gate_act`` (sigmoid by
    default), from the noisy-units issue's recurrent layers; ``init`` "default" or "orthogonal"
    (see :func:`init_weights`), the head initialised by the same rule."""
    from actlab.noisy.recurrent import GRU, LSTM

    if kind not in ("lstm", "gru"):
        raise ValueError(f"unknown recurrent kind {kind!r}; valid: lstm, gru")
    for name, v, low in (("steps", steps, 1), ("step_features", step_features, 1),
                         ("out_features", out_features, 1), ("depth", depth, 1), ("width", width, 1)):
        _check_int(name, v, low)
    if init not in ("default", "orthogonal"):
        raise ValueError(f"init {init!r} is not defined for recurrent models; valid: default, orthogonal")
    candidate = make_activation(act, act_params).get_config() if not isinstance(act, nn.Module) else act
    gate = "sigmoid" if gate_act is None else gate_act
    with torch.random.fork_rng(devices=[]):  # the layers' own init draws from the global RNG
        if kind == "lstm":
            rnn: nn.Module = LSTM(step_features, width, num_layers=depth, batch_first=True,
                                  gate_activation=gate, candidate_activation=candidate,
                                  cell_activation=candidate)
        else:
            rnn = GRU(step_features, width, num_layers=depth, batch_first=True, gate_activation=gate,
                      candidate_activation=candidate)
    model = RecurrentClassifier(rnn, nn.utils.skip_init(nn.Linear, width, out_features), steps, step_features)
    init_weights(model, "default" if init == "default" else "orthogonal", gain=gain,
                 generator=_generator(generator, seed))
    return model
