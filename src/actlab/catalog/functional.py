"""Functional forms and closed-form derivatives of the built-in activations.

Two rules:

* Where PyTorch has a native op, call it (``torch.relu``, ``F.gelu``, ...): it is fused, fast and
  saves the least for backward. Where it has none (hard_sigmoid with a free slope, softsign,
  step, rrelu with a generator), a small ``torch.autograd.Function`` computes the forward in one
  or two passes and the backward from the closed form, saving only one input-sized tensor.
* Derivatives are written in a numerically stable form: ``sigmoid'(x) = s(x) * s(-x)`` rather than
  ``s(1 - s)``, which is exactly 0 in float32 for x > 17 while the true value (~e^-x) is
  representable down to x ~ 88. Half-precision inputs are differentiated in float32 and cast back.

The derivative convention at kinks matches PyTorch's autograd for the native op (see
:meth:`actlab.catalog.spec.Spec.derivative`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

# Klambauer et al. 2017, "Self-Normalizing Neural Networks", eq. (14): the solution of the
# fixed-point equations for mean 0 / variance 1, to full double precision (as in PyTorch).
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_GELU_TANH_COEF = 0.044715


def check_input(x: object, name: str) -> None:
    """Reject what would silently give garbage: non-tensors and integer/bool tensors. A
    ``torch.fx.Proxy`` (symbolic tracing) passes: it stands for a tensor of unknown dtype."""
    if isinstance(x, torch.fx.Proxy):
        return
    if not isinstance(x, Tensor):
        raise TypeError(f"actlab.{name}: expected a torch.Tensor, got {type(x).__name__}")
    if not (x.is_floating_point() or x.is_complex()):
        raise TypeError(
            f"actlab.{name}: expected a floating-point tensor, got {x.dtype}; "
            "convert first, e.g. x.float()"
        )


_VALID: set[tuple] = set()


def _check_params(name: str, **params: object) -> None:
    """Validate the parameters of a functional form against the spec (one-line ValueError).

    Valid settings are remembered, so a repeated call costs a set lookup (~1.5 us). The types
    are part of the key: True == 1 == 1.0 hash alike, but a bool is no valid float. Tensor values
    (learned PReLU slopes, a learnable beta) are not spec parameters and pass. Inside
    torch.compile the check is skipped (eager runs and module construction check the values)."""
    if torch.compiler.is_compiling():
        return
    key = (name, *params.items(), *map(type, params.values()))
    if key in _VALID:
        return
    from actlab.catalog.registry import spec  # the registry imports this module

    plain = {k: v for k, v in params.items() if not isinstance(v, (Tensor, torch.fx.Proxy))}
    spec(name).resolve(plain)
    if len(plain) == len(params) and len(_VALID) < 100_000:
        _VALID.add(key)


def _derivative(fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """Check the input and evaluate half/bfloat16 derivatives in float32 (then cast back)."""

    @functools.wraps(fn)
    def wrapper(x: Tensor, *args, **kwargs) -> Tensor:
        check_input(x, fn.__name__)
        if x.dtype in (torch.float16, torch.bfloat16):
            return fn(x.float(), *args, **kwargs).to(x.dtype)
        return fn(x, *args, **kwargs)

    return wrapper


# ---------------------------------------------------------------------------------------------
# identity, step
# ---------------------------------------------------------------------------------------------
def identity(x: Tensor) -> Tensor:
    check_input(x, "identity")
    return x


@_derivative
def d_identity(x: Tensor) -> Tensor:
    return torch.ones_like(x)


class _StepFn(torch.autograd.Function):
    # The graph stays connected (gradient exactly 0) so that "no learning through a step" is
    # observable rather than an error about tensors not requiring grad.
    generate_vmap_rule = True  # torch.func.vmap / jacrev work through it

    @staticmethod
    def forward(x: Tensor) -> Tensor:
        return (x > 0).to(x.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        pass

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        return torch.zeros_like(grad)


def step(x: Tensor) -> Tensor:
    check_input(x, "step")
    return _StepFn.apply(x)


@_derivative
def d_step(x: Tensor) -> Tensor:
    return torch.zeros_like(x)


# ---------------------------------------------------------------------------------------------
# sigmoid, tanh and their hard versions
# ---------------------------------------------------------------------------------------------
def sigmoid(x: Tensor) -> Tensor:
    check_input(x, "sigmoid")
    return torch.sigmoid(x)


@_derivative
def d_sigmoid(x: Tensor) -> Tensor:
    return torch.sigmoid(x) * torch.sigmoid(-x)


def tanh(x: Tensor) -> Tensor:
    check_input(x, "tanh")
    return torch.tanh(x)


@_derivative
def d_tanh(x: Tensor) -> Tensor:
    # sech^2(x) = 4 s(2x) s(-2x); 1 - tanh^2 is exactly 0 in float32 for |x| > 9.
    return 4.0 * torch.sigmoid(2.0 * x) * torch.sigmoid(-2.0 * x)


class _HardSigmoidFn(torch.autograd.Function):
    generate_vmap_rule = True  # torch.func.vmap / jacrev work through it

    @staticmethod
    def forward(x: Tensor, slope: float) -> Tensor:
        return torch.clamp_(x * slope + 0.5, 0.0, 1.0)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        x, slope = inputs
        ctx.save_for_backward(x)
        ctx.slope = slope

    @staticmethod
    def backward(ctx, grad: Tensor):
        (x,) = ctx.saved_tensors
        return grad * d_hard_sigmoid(x, ctx.slope), None


def hard_sigmoid(x: Tensor, slope: float = 0.25) -> Tensor:
    check_input(x, "hard_sigmoid")
    _check_params("hard_sigmoid", slope=slope)
    # PyTorch's kernel for slope 1/6, except in float64: its backward multiplies by 1/6 rounded
    # to float32 (0.16666667163...), 3e-8 off the exact slope.
    if slope == 1.0 / 6.0 and x.dtype != torch.float64:
        return F.hardsigmoid(x)
    return _HardSigmoidFn.apply(x, slope)


@_derivative
def d_hard_sigmoid(x: Tensor, slope: float = 0.25) -> Tensor:
    _check_params("hard_sigmoid", slope=slope)
    t = 0.5 / slope  # |x| >= t is saturated; f' = 0 there, including at the kink (PyTorch)
    return ((x > -t) & (x < t)).to(x.dtype) * slope


def hard_tanh(x: Tensor, min: float = -1.0, max: float = 1.0) -> Tensor:
    check_input(x, "hard_tanh")
    _check_params("hard_tanh", min=min, max=max)
    return F.hardtanh(x, min, max)


@_derivative
def d_hard_tanh(x: Tensor, min: float = -1.0, max: float = 1.0) -> Tensor:
    _check_params("hard_tanh", min=min, max=max)
    return ((x > min) & (x < max)).to(x.dtype)


# ---------------------------------------------------------------------------------------------
# the ReLU family
# ---------------------------------------------------------------------------------------------
def relu(x: Tensor) -> Tensor:
    check_input(x, "relu")
    return torch.relu(x)


@_derivative
def d_relu(x: Tensor) -> Tensor:
    return (x > 0).to(x.dtype)


def relu6(x: Tensor) -> Tensor:
    check_input(x, "relu6")
    return F.relu6(x)


@_derivative
def d_relu6(x: Tensor) -> Tensor:
    return ((x > 0) & (x < 6)).to(x.dtype)


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    check_input(x, "leaky_relu")
    _check_params("leaky_relu", negative_slope=negative_slope)
    return F.leaky_relu(x, negative_slope)


@_derivative
def d_leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    _check_params("leaky_relu", negative_slope=negative_slope)
    # full_like, not a Python scalar: torch.where(cond, 1.0, 0.01) is float32 whatever x is.
    return torch.where(x > 0, torch.ones_like(x), torch.full_like(x, negative_slope))


def _prelu_weight(x: Tensor, weight: Tensor | float) -> Tensor:
    if isinstance(weight, (Tensor, torch.fx.Proxy)):  # a Proxy: the learned weight under fx tracing
        return weight.to(dtype=x.dtype)
    return torch.tensor([float(weight)], dtype=x.dtype, device=x.device)


def prelu(
    x: Tensor, weight: Tensor | float | None = None, num_parameters: int = 1, init: float = 0.25
) -> Tensor:
    """PReLU with ``weight`` of one element (shared) or one per channel (dim 1 of ``x``).

    Without ``weight``, the slope is ``init`` (the module at initialisation): the functional form
    then takes the spec's parameters, ``prelu(x, num_parameters=..., init=...)``, like every entry.
    """
    check_input(x, "prelu")
    _check_params("prelu", num_parameters=num_parameters, init=init)
    return F.prelu(x, _prelu_weight(x, init if weight is None else weight))


@_derivative
def d_prelu(
    x: Tensor, weight: Tensor | float | None = None, num_parameters: int = 1, init: float = 0.25
) -> Tensor:
    _check_params("prelu", num_parameters=num_parameters, init=init)
    w = _prelu_weight(x, init if weight is None else weight)
    if w.numel() > 1 and x.dim() >= 2:
        w = w.reshape((1, -1) + (1,) * (x.dim() - 2))
    return torch.where(x > 0, torch.ones_like(x), w.expand_as(x))


class _RandomSlopeFn(torch.autograd.Function):
    # Saves one tensor: the per-element multiplier r (1 where x > 0, the slope elsewhere), so
    # that y = x * r and dy/dx = r.
    generate_vmap_rule = True  # torch.func.vmap / jacrev work through it

    @staticmethod
    def forward(x: Tensor, lower: float, upper: float, generator) -> Tensor:
        r = torch.empty_like(x).uniform_(lower, upper, generator=generator)
        # x > 0 (not >=): at 0 the slope applies, as in eval (leaky_relu'(0)) and nn.RReLU.
        r = torch.where(x > 0, torch.ones_like(r), r)
        return x * r, r

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        ctx.save_for_backward(output[1])
        ctx.mark_non_differentiable(output[1])

    @staticmethod
    def backward(ctx, grad: Tensor, _grad_r):
        (r,) = ctx.saved_tensors
        return grad * r, None, None, None


def rrelu(
    x: Tensor,
    lower: float = 1.0 / 8.0,
    upper: float = 1.0 / 3.0,
    training: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Randomized leaky ReLU (Xu et al. 2015): slope ~ U[lower, upper] per element in training,
    the fixed (lower + upper) / 2 in eval."""
    check_input(x, "rrelu")
    _check_params("rrelu", lower=lower, upper=upper)
    if not training:
        return F.leaky_relu(x, (lower + upper) / 2.0)
    return _RandomSlopeFn.apply(x, lower, upper, generator)[0]


@_derivative
def d_rrelu(x: Tensor, lower: float = 1.0 / 8.0, upper: float = 1.0 / 3.0) -> Tensor:
    """Derivative of the deterministic (eval) form."""
    _check_params("rrelu", lower=lower, upper=upper)
    return d_leaky_relu(x, (lower + upper) / 2.0)


def noisy_relu(
    x: Tensor, training: bool = False, generator: torch.Generator | None = None
) -> Tensor:
    """Noisy ReLU (Nair & Hinton 2010): ``max(0, x + N(0, sigmoid(x)))``, sigmoid(x) being the
    *variance*; in eval, ``max(0, x)``. The gradient in training is the pathwise one (through the
    noise scale as well)."""
    check_input(x, "noisy_relu")
    if not training:
        return torch.relu(x)
    eps = torch.empty_like(x).normal_(generator=generator)
    # sqrt(sigmoid(x)) as exp(log_sigmoid(x) / 2): the same value, but its gradient stays finite
    # where sigmoid(x) underflows to 0 (sqrt'(0) = inf, and inf * 0 = NaN for x < -104 in
    # float32, even though relu passes no gradient there).
    std = torch.exp(0.5 * F.logsigmoid(x))
    return torch.relu(x + std * eps)


d_noisy_relu = d_relu


# ---------------------------------------------------------------------------------------------
# the exponential family: elu, selu, celu
# ---------------------------------------------------------------------------------------------
def elu(x: Tensor, alpha: float = 1.0) -> Tensor:
    check_input(x, "elu")
    _check_params("elu", alpha=alpha)
    return F.elu(x, alpha)


@_derivative
def d_elu(x: Tensor, alpha: float = 1.0) -> Tensor:
    _check_params("elu", alpha=alpha)
    # exp of clamped x: the x > 0 branch is discarded but must not overflow to inf * 0.
    return torch.where(x > 0, torch.ones_like(x), alpha * torch.exp(torch.clamp(x, max=0.0)))


def selu(x: Tensor) -> Tensor:
    check_input(x, "selu")
    return F.selu(x)


@_derivative
def d_selu(x: Tensor) -> Tensor:
    return SELU_SCALE * d_elu(x, SELU_ALPHA)


def celu(x: Tensor, alpha: float = 1.0) -> Tensor:
    check_input(x, "celu")
    _check_params("celu", alpha=alpha)
    return F.celu(x, alpha)


@_derivative
def d_celu(x: Tensor, alpha: float = 1.0) -> Tensor:
    _check_params("celu", alpha=alpha)
    return torch.where(x > 0, torch.ones_like(x), torch.exp(torch.clamp(x, max=0.0) / alpha))


# ---------------------------------------------------------------------------------------------
# smooth ReLU-likes: gelu, silu/swish, mish, softplus
# ---------------------------------------------------------------------------------------------
def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    check_input(x, "gelu")
    _check_params("gelu", approximate=approximate)
    return F.gelu(x, approximate=approximate)


@_derivative
def d_gelu(x: Tensor, approximate: str = "none") -> Tensor:
    _check_params("gelu", approximate=approximate)
    if approximate == "tanh":
        u = _SQRT_2_OVER_PI * (x + _GELU_TANH_COEF * x**3)
        du = _SQRT_2_OVER_PI * (1.0 + 3.0 * _GELU_TANH_COEF * x * x)
        sech2 = 4.0 * torch.sigmoid(2.0 * u) * torch.sigmoid(-2.0 * u)
        # 0.5 (1 + tanh u) = s(2u): no cancellation for very negative x.
        return torch.sigmoid(2.0 * u) + 0.5 * x * sech2 * du
    # Phi(x) + x phi(x); Phi via erfc stays accurate in the far left tail.
    cdf = 0.5 * torch.erfc(-x * _INV_SQRT_2)
    pdf = torch.exp(-0.5 * x * x) * _INV_SQRT_2PI
    return cdf + x * pdf


def silu(x: Tensor, beta: Tensor | float = 1.0, learnable: bool = False) -> Tensor:
    """SiLU / Swish: ``x * sigmoid(beta * x)``; ``beta`` may be a learnable tensor (Swish-beta).

    ``learnable`` only matters to the module (it makes beta an ``nn.Parameter``); it is accepted
    here so that ``silu(x, **spec.defaults)`` works like every other entry."""
    check_input(x, "silu")
    _check_params("silu", beta=beta, learnable=learnable)
    if not isinstance(beta, (Tensor, torch.fx.Proxy)) and beta == 1.0:
        return F.silu(x)
    return x * torch.sigmoid(beta * x)


@_derivative
def d_silu(x: Tensor, beta: Tensor | float = 1.0, learnable: bool = False) -> Tensor:
    _check_params("silu", beta=beta, learnable=learnable)
    bx = beta * x
    s = torch.sigmoid(bx)
    return s + bx * s * torch.sigmoid(-bx)


def mish(x: Tensor) -> Tensor:
    check_input(x, "mish")
    return F.mish(x)


@_derivative
def d_mish(x: Tensor) -> Tensor:
    sp = F.softplus(x)
    sech2 = 4.0 * torch.sigmoid(2.0 * sp) * torch.sigmoid(-2.0 * sp)
    return torch.tanh(sp) + x * sech2 * torch.sigmoid(x)


def softplus(x: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """``log(1 + exp(beta x)) / beta``, linear where ``beta x > threshold`` (as PyTorch)."""
    check_input(x, "softplus")
    _check_params("softplus", beta=beta, threshold=threshold)
    return F.softplus(x, beta, threshold)


@_derivative
def d_softplus(x: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    _check_params("softplus", beta=beta, threshold=threshold)
    # PyTorch's backward is exactly 1 in the linear region; match it.
    return torch.where(beta * x > threshold, torch.ones_like(x), torch.sigmoid(beta * x))


class _SoftsignFn(torch.autograd.Function):
    generate_vmap_rule = True  # torch.func.vmap / jacrev work through it

    @staticmethod
    def forward(x: Tensor) -> Tensor:
        return x / (x.abs() + 1.0)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return grad * d_softsign(x)


def softsign(x: Tensor) -> Tensor:
    check_input(x, "softsign")
    return _SoftsignFn.apply(x)


@_derivative
def d_softsign(x: Tensor) -> Tensor:
    # Out of place: the backward of _SoftsignFn calls this, and in-place ops here broke double
    # backward (reciprocal's saved output was overwritten by square_).
    return (x.abs() + 1.0).reciprocal().square()


def hard_swish(x: Tensor) -> Tensor:
    check_input(x, "hard_swish")
    return F.hardswish(x)


@_derivative
def d_hard_swish(x: Tensor) -> Tensor:
    # PyTorch's backward (2.13): 0 for x <= -3, x/3 + 1/2 on (-3, 3), 1 for x >= 3; so at both
    # kinks the value of the outer piece.
    return torch.where(x <= -3, torch.zeros_like(x), torch.where(x < 3, x / 3.0 + 0.5, 1.0))


def log_sigmoid(x: Tensor) -> Tensor:
    check_input(x, "log_sigmoid")
    return F.logsigmoid(x)


@_derivative
def d_log_sigmoid(x: Tensor) -> Tensor:
    return torch.sigmoid(-x)


# ---------------------------------------------------------------------------------------------
# entries that mix features: maxout, softmax, log_softmax
# ---------------------------------------------------------------------------------------------
def _maxout_groups(x: Tensor, k: int, dim: int) -> tuple[Tensor, int]:
    if x.dim() == 0 or not -x.dim() <= dim < x.dim():
        raise ValueError(
            f"maxout: dim={dim} is invalid for a {x.dim()}-d input; valid: "
            f"-{max(x.dim(), 1)} <= dim < {max(x.dim(), 1)} on an input with at least 1 dimension"
        )
    dim = dim % x.dim()
    n = x.shape[dim]
    if n % k:
        raise ValueError(
            f"maxout: the size of dim {dim} ({n}) is not divisible by k={k}; "
            f"valid: a multiple of {k}"
        )
    shape = (*x.shape[:dim], n // k, k, *x.shape[dim + 1 :])
    return x.reshape(shape), dim


def maxout(x: Tensor, k: int = 2, dim: int = -1) -> Tensor:
    """Maxout (Goodfellow et al. 2013) as an activation: the max over each group of ``k``
    consecutive features along ``dim``, mapping ``n * k`` features to ``n``. Put it after an
    ``nn.Linear(in, n * k)`` to get the maxout unit of the paper."""
    check_input(x, "maxout")
    _check_params("maxout", k=k, dim=dim)
    groups, dim = _maxout_groups(x, k, dim)
    # max (not amax): on ties the gradient goes to the one index max returns, as d_maxout says.
    return groups.max(dim + 1).values


@_derivative
def d_maxout(x: Tensor, k: int = 2, dim: int = -1) -> Tensor:
    """d y_j / d x_i: 1 for the element that is the max of its group (the one ``torch.max``
    returns on ties), 0 elsewhere; shape of ``x``."""
    _check_params("maxout", k=k, dim=dim)
    groups, dim = _maxout_groups(x, k, dim)
    idx = groups.max(dim + 1, keepdim=True).indices
    return torch.zeros_like(groups).scatter_(dim + 1, idx, 1.0).reshape(x.shape)


def softmax(x: Tensor, dim: int = -1) -> Tensor:
    check_input(x, "softmax")
    _check_params("softmax", dim=dim)
    return F.softmax(x, dim=dim)


def log_softmax(x: Tensor, dim: int = -1) -> Tensor:
    check_input(x, "log_softmax")
    _check_params("log_softmax", dim=dim)
    return F.log_softmax(x, dim=dim)


def _softmax_parts(x: Tensor, dim: int) -> tuple[Tensor, Tensor]:
    """Return (s, 1 - s) along ``dim``, with 1 - s computed without cancellation.

    1 - s_i = sum_{j != i} e_j / Z. For i != argmax it is >= 1/Z and the subtraction Z - e_i is
    benign; at the argmax the rest is summed directly."""
    m = x.amax(dim, keepdim=True)
    e = torch.exp(x - m)
    z = e.sum(dim, keepdim=True)
    others = z - e
    top = x.argmax(dim, keepdim=True)
    rest = e.scatter(dim, top, 0.0).sum(dim, keepdim=True)
    others = others.scatter(dim, top, rest)
    return e / z, others / z


@_derivative
def d_softmax(x: Tensor, dim: int = -1) -> Tensor:
    """Diagonal of the Jacobian, d s_i / d x_i = s_i (1 - s_i)."""
    _check_params("softmax", dim=dim)
    s, rest = _softmax_parts(x, dim)
    return s * rest


@_derivative
def d_log_softmax(x: Tensor, dim: int = -1) -> Tensor:
    """Diagonal of the Jacobian, d log s_i / d x_i = 1 - s_i."""
    _check_params("log_softmax", dim=dim)
    return _softmax_parts(x, dim)[1]
