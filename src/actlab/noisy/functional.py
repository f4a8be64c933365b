r"""Noisy activation functions (Gulcehre, Moczulski, Denil & Bengio, ICML 2016): the mathematics.

A hard-saturating unit :math:`h(x) = \mathrm{clamp}(u(x), \text{low}, \text{high})` with
:math:`u(x)` its first-order Taylor expansion at 0 (the linear piece) has :math:`h' = 0` exactly
once saturated. With :math:`\Delta(x) = h(x) - u(x)` (0 on the linear piece):

* **NAN** (noise added to the output):
  :math:`\phi(x, \xi) = \alpha h(x) + (1 - \alpha) u(x) + d(x)\, s(x)\, \xi` with
  :math:`d(x) = -\mathrm{sgn}(x)\,\mathrm{sgn}(1 - \alpha)` and
  :math:`s(x) = c\,(\sigma(p\,\Delta(x)) - \tfrac12)^2`, ``p`` learned.
* **NANI** (noise added to the input): :math:`h(x + c\,\xi)`.
* **NANIS** (input noise only where saturated): :math:`h(x + c\,\xi)` where :math:`x` is strictly
  beyond a saturation threshold, :math:`h(x)` elsewhere.
* **NANIL** (input noise with a learned scale):
  :math:`h(x + c\,\mathrm{softplus}(p\,|\Delta(x)|)\,\xi)`. The authors' code divides
  :math:`p|\Delta|` by :math:`|\xi|` inside the softplus, which makes the scale depend on the draw;
  here the scale is a function of :math:`x` only, as in the paper's equation.

:math:`\xi \sim N(0, 1)` (``noise="normal"``) or :math:`|N(0, 1)|` (``"half_normal"``). In eval mode
:math:`\xi` is replaced by its expectation (0, or :math:`\sqrt{2/\pi}` for the half-normal;
``eval_noise="expectation"``) or by 0 (``eval_noise="none"``), so eval outputs are deterministic.

Units: ``hard_tanh`` (:math:`u = x`), ``hard_sigmoid`` (:math:`u = x/4 + 1/2`, slope 1/4 as in the
paper) and ``relu`` (:math:`u = x`, saturated for :math:`x < 0`), so that noisy ReLUs can be
compared in the same framework.

Two bugs of the authors' code are avoided, and tested against: NANIS for hard_sigmoid there *adds*
the not-saturated mask (``(1 - test) + HardSigmoid(x)``) instead of multiplying it, and their NAN
without learned ``p`` linearises around ``x`` (``x - sgn(x) * eps``) instead of ``u(x)``, so the
hard_sigmoid output jumps from 1 to 2 at the threshold. Here :math:`\phi = h` on the linear piece,
in train and eval, and :math:`\phi` is continuous at the thresholds.

NAN runs as one ``torch.autograd.Function`` (:class:`_NANFunction`) that saves the input, ``p`` and
the noise draw (or, with ``recompute_noise``, only the generator state, redrawing the noise in
backward): at most twice the input's bytes, against about six input-sized tensors for the autograd
composition. Its backward is written with differentiable ops, so double backward works; with
``compiled=True`` (:func:`set_kernel_options`) the forward and first-order backward run as
``torch.compile`` kernels (one pass each), with the eager code as the fallback.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from actlab.catalog import functional as AF

#: E|xi| for xi ~ N(0, 1): the eval-mode value of half-normal noise.
HALF_NORMAL_MEAN = math.sqrt(2.0 / math.pi)

KINDS = ("nan", "nani", "nanis", "nanil")
NOISE_TYPES = ("normal", "half_normal")
EVAL_NOISE = ("expectation", "none")


# ---------------------------------------------------------------------------------------------
# the saturating units
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Unit:
    """A hard-saturating unit ``h(x) = clamp(u(x), low, high)`` with linear piece
    ``u(x) = slope * x + offset`` (``high=None``: no upper saturation, the ReLU).

    ``h`` and its derivative follow PyTorch's convention at the thresholds (``h' = 0`` there, as
    ``F.hardtanh``, ``torch.relu`` and actlab's ``hard_sigmoid``)."""

    name: str
    slope: float
    offset: float
    low: float
    high: float | None

    @property
    def thresholds(self) -> tuple[float, float | None]:
        """x where u(x) reaches low and high: the saturation thresholds."""
        lo = (self.low - self.offset) / self.slope
        hi = None if self.high is None else (self.high - self.offset) / self.slope
        return lo, hi

    def u(self, x: Tensor) -> Tensor:
        if self.slope == 1.0 and self.offset == 0.0:
            return x
        return x * self.slope + self.offset

    def h(self, x: Tensor) -> Tensor:
        """h(x) by the native op (its autograd has the convention above)."""
        if self.name == "hard_tanh":
            return F.hardtanh(x, self.low, self.high)
        if self.name == "hard_sigmoid":
            return AF.hard_sigmoid(x, self.slope)
        return torch.relu(x)

    def inside(self, x: Tensor) -> Tensor:
        """The open linear piece, where h' = slope (bool)."""
        u = self.u(x)
        return (u > self.low) if self.high is None else (u > self.low) & (u < self.high)

    def saturated(self, x: Tensor) -> Tensor:
        """Strictly beyond a threshold (bool); the thresholds themselves are not saturated."""
        u = self.u(x)
        return (u < self.low) if self.high is None else (u < self.low) | (u > self.high)

    def dh(self, x: Tensor) -> Tensor:
        return self.inside(x).to(x.dtype) * self.slope


UNITS: dict[str, Unit] = {
    "hard_tanh": Unit("hard_tanh", 1.0, 0.0, -1.0, 1.0),
    "hard_sigmoid": Unit("hard_sigmoid", 0.25, 0.5, 0.0, 1.0),
    "relu": Unit("relu", 1.0, 0.0, 0.0, None),
}


def unit(name: str) -> Unit:
    try:
        return UNITS[name]
    except KeyError:
        raise ValueError(f"unknown saturating unit {name!r}; valid: {', '.join(UNITS)}") from None


def _choice(value: str, valid: tuple[str, ...], what: str) -> str:
    if value not in valid:
        raise ValueError(f"{what}={value!r} is invalid; valid: {', '.join(repr(v) for v in valid)}")
    return value


def eval_xi(noise: str, eval_noise: str) -> float:
    """What replaces xi in eval mode: E[xi] (0, or sqrt(2/pi) for half-normal), or 0."""
    _choice(noise, NOISE_TYPES, "noise")
    _choice(eval_noise, EVAL_NOISE, "eval_noise")
    return HALF_NORMAL_MEAN if noise == "half_normal" and eval_noise == "expectation" else 0.0


# ---------------------------------------------------------------------------------------------
# noise and kernel options
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class KernelOptions:
    """How NAN runs (results are the same up to float rounding, and the same draws).

    Attributes:
        compiled: run NAN's forward and first-order backward as ``torch.compile`` kernels (one
            fused pass each; the first call compiles, a few seconds). Falls back to eager, with a
            warning, where compilation fails. Double backward always runs eagerly.
        recompute_noise: save the generator state instead of the noise draw and redraw it in
            backward: saved bytes fall to 1x the input, at the cost of a second draw.
        compact_noise: draw and keep NAN's noise at half the input's width (float16 for float32
            inputs, float32 for float64; half-precision inputs keep theirs). The unit uses exactly
            the stored values, so outputs and gradients are those of that draw; the draw is
            N(0, 1) rounded to 11 significant bits. Saved bytes: 1.5x the input instead of 2x.
    """

    compiled: bool = False
    recompute_noise: bool = False
    compact_noise: bool = True


_OPTIONS = KernelOptions()


def get_kernel_options() -> KernelOptions:
    return _OPTIONS


def set_kernel_options(compiled: bool | None = None, recompute_noise: bool | None = None,
                       compact_noise: bool | None = None) -> KernelOptions:
    """Change how NAN runs (see :class:`KernelOptions`); returns the previous options."""
    global _OPTIONS
    previous = _OPTIONS
    given = {"compiled": compiled, "recompute_noise": recompute_noise, "compact_noise": compact_noise}
    _OPTIONS = replace(_OPTIONS, **{k: v for k, v in given.items() if v is not None})
    return previous


@contextlib.contextmanager
def kernel_options(compiled: bool | None = None, recompute_noise: bool | None = None,
                   compact_noise: bool | None = None) -> Iterator[KernelOptions]:
    """Context manager form of :func:`set_kernel_options`."""
    global _OPTIONS
    previous = set_kernel_options(compiled, recompute_noise, compact_noise)
    try:
        yield _OPTIONS
    finally:
        _OPTIONS = previous


_COMPACT = {torch.float32: torch.float16, torch.float64: torch.float32}


def _default_generator(device: torch.device) -> torch.Generator:
    if device.type == "cuda":
        return torch.cuda.default_generators[device.index if device.index is not None
                                             else torch.cuda.current_device()]
    if device.type == "cpu":
        return torch.default_generator
    raise ValueError(f"recompute_noise needs an explicit generator on {device.type}")


def draw_noise(like: Tensor, noise: str = "normal", generator: torch.Generator | None = None,
               dtype: torch.dtype | None = None) -> Tensor:
    """xi with the shape and device of ``like`` (dtype: like's by default): N(0, 1) or |N(0, 1)|
    draws."""
    _choice(noise, NOISE_TYPES, "noise")
    xi = torch.randn(like.shape, dtype=dtype or like.dtype, device=like.device, generator=generator)
    return xi.abs_() if noise == "half_normal" else xi


def _nan_noise_dtype(x: Tensor) -> torch.dtype:
    return _COMPACT.get(x.dtype, x.dtype) if _OPTIONS.compact_noise else x.dtype


class _Redraw:
    """Redraws the same xi from a saved generator state (``recompute_noise``)."""

    def __init__(self, like: Tensor, noise: str, generator: torch.Generator | None,
                 dtype: torch.dtype) -> None:
        self.generator = generator if generator is not None else _default_generator(like.device)
        self.state = self.generator.get_state()
        self.shape, self.dtype, self.device, self.noise = like.shape, dtype, like.device, noise

    def draw(self, generator: torch.Generator | None = None) -> Tensor:
        g = generator or self.generator
        xi = torch.randn(self.shape, dtype=self.dtype, device=self.device, generator=g)
        return xi.abs_() if self.noise == "half_normal" else xi

    def __call__(self) -> Tensor:
        g = torch.Generator(device=self.device)
        g.set_state(self.state)
        return self.draw(g)


def _broadcast_p(p: float | Tensor, x: Tensor, entry: str) -> Tensor:
    """p as a tensor broadcastable to x: a scalar, or one value per unit along dim 1 (dim 0 for a
    1-D input), as ``nn.PReLU``."""
    if not isinstance(p, Tensor):
        return torch.tensor(float(p), dtype=x.dtype, device=x.device)
    p = p.to(dtype=x.dtype, device=x.device)
    if p.numel() == 1:
        return p.reshape(())
    dim = 1 if x.dim() >= 2 else 0
    if x.dim() == 0 or x.shape[dim] != p.numel():
        raise ValueError(f"{entry}: {p.numel()} values of p (num_parameters) but the input has "
                         f"shape {tuple(x.shape)}; valid: dim {dim} of size {p.numel()}")
    shape = [1] * x.dim()
    shape[dim] = p.numel()
    return p.reshape(shape)


# ---------------------------------------------------------------------------------------------
# NAN: value and gradients (plain functions: the eager kernel, and what torch.compile fuses)
# ---------------------------------------------------------------------------------------------
def _nan_value(x: Tensor, p: Tensor, xi: Tensor | None, alpha: float, k: float,
               slope: float, offset: float, low: float, high: float | None) -> Tensor:
    """alpha h + (1 - alpha) u + k sgn(x) (sigmoid(p Delta) - 1/2)^2 xi (xi None: xi = 1).

    ``k = c sgn(alpha - 1)`` in training, times E[xi] in eval: d(x) s(x) = k sgn(x) (...)^2."""
    u = x if slope == 1.0 and offset == 0.0 else x * slope + offset
    h = torch.clamp(u, low, high)
    delta = h - u
    # alpha h + (1 - alpha) u written as h + (alpha - 1) Delta: exactly h on the linear piece.
    y = h + delta * (alpha - 1.0)
    if k == 0.0:
        return y
    v = torch.sigmoid(delta * p) - 0.5
    term = torch.copysign(v * v, x)  # sgn(x) v^2 (v^2 >= 0); 0 on the linear piece
    return y + term * xi * k if xi is not None else y + term * k


def _nan_grads(g: Tensor, x: Tensor, p: Tensor, xi: Tensor | None, alpha: float, k: float,
               slope: float, offset: float, low: float, high: float | None,
               need_p: bool) -> tuple[Tensor, Tensor | None]:
    """(dL/dx, dL/dp elementwise) for upstream gradient g; differentiable (double backward).

    dphi/dx = alpha h' + (1 - alpha) u' + k sgn(x) xi 2 v sigma'(p Delta) p Delta',
    dphi/dp = k sgn(x) xi 2 v sigma'(p Delta) Delta, with v = sigma(p Delta) - 1/2 and
    Delta' = h' - u' = -slope beyond the thresholds (v = 0 on the linear piece)."""
    u = x if slope == 1.0 and offset == 0.0 else x * slope + offset
    inside = (u > low) if high is None else (u > low) & (u < high)
    gx = torch.where(inside, g * slope, g * ((1.0 - alpha) * slope))
    if k == 0.0:
        return gx, (torch.zeros_like(x) if need_p else None)
    h = torch.clamp(u, low, high)
    t = (h - u) * p
    v = torch.sigmoid(t) - 0.5
    # sigma'(t) = sigma(t) sigma(-t): exact where 1 - sigma(t) would round to 0.
    w = g * torch.sign(x) * (2.0 * v * torch.sigmoid(t) * torch.sigmoid(-t))
    w = w * xi * k if xi is not None else w * k
    gx = gx - w * (p * slope)
    return gx, (w * (h - u) if need_p else None)


# The eager kernel proper: the same arithmetic in place, on blocks of CHUNK elements, so that the
# dozen elementwise passes run in cache and no input-sized temporary is allocated (fresh
# allocations of 64 MB page-fault at every call). The plain functions above remain the reference,
# the compiled kernels' source and the double-backward path.
# Blocks stay below ATen's parallel grain (32768 elements), so each op runs on the calling thread:
# with larger blocks every op is an OpenMP region with a barrier, and on a loaded machine (a
# thread descheduled) a thousand barriers cost seconds; measured 20x slowdowns at 256K.
CHUNK = 30_000


def _canonical(x: Tensor, p: Tensor) -> tuple[Tensor, Tensor, int]:
    """x as a contiguous (N, C, R) tensor with p 0-d or (1, C, 1), and the rows per block (blocks
    run over N, so that a per-unit p broadcasts within each). A 0-d p stays a tensor: reading it
    as a number would sync a GPU at every call and fails on meta tensors and under torch.export."""
    x = x.contiguous()
    if p.dim() == 0:
        x3, p3 = x.view(-1, 1, 1), p
    elif x.dim() == 1:
        x3, p3 = x.view(1, -1, 1), p.reshape(1, -1, 1)
    else:
        x3, p3 = x.view(x.shape[0], x.shape[1], -1), p.reshape(1, -1, 1)
    return x3, p3, max(1, CHUNK // max(1, x3.shape[1] * x3.shape[2]))


def _same_dtype(t: Tensor, buf: Tensor) -> Tensor:
    """t itself, or t converted into buf (compactly stored noise)."""
    return t if t.dtype == buf.dtype else buf.copy_(t)


def _nan_value_blocked(x: Tensor, p: Tensor, xi: Tensor | None, alpha: float, k: float,
                       slope: float, offset: float, low: float, high: float | None) -> Tensor:
    if x.numel() == 0:
        return torch.empty_like(x)
    x3, p3, rows = _canonical(x, p)
    xi3 = xi.reshape(x3.shape) if xi is not None else None
    y3 = torch.empty_like(x3)
    block = (min(rows, x3.shape[0]), *x3.shape[1:])
    d_buf, u_buf = x3.new_empty(block), x3.new_empty(block)
    affine = slope != 1.0 or offset != 0.0
    for a in range(0, x3.shape[0], rows):
        xc, yc = x3[a:a + rows], y3[a:a + rows]
        m = xc.shape[0]
        d = d_buf[:m]
        u = torch.mul(xc, slope, out=u_buf[:m]).add_(offset) if affine else xc
        torch.clamp(u, low, high, out=yc)  # h
        torch.sub(yc, u, out=d)  # Delta
        yc.add_(d, alpha=alpha - 1.0)  # h + (alpha - 1) Delta
        if k != 0.0:
            d.mul_(p3).sigmoid_().sub_(0.5)
            d.mul_(d)
            torch.copysign(d, xc, out=d)
            if xi3 is not None:  # (u is no longer needed: its buffer takes the draw)
                d.mul_(_same_dtype(xi3[a:a + rows], u_buf[:m]))
            yc.add_(d, alpha=k)
    return y3.view(x.shape)


def _nan_grads_blocked(g: Tensor, x: Tensor, p: Tensor, xi: Tensor | None, alpha: float, k: float,
                       slope: float, offset: float, low: float, high: float | None,
                       need_p: bool) -> tuple[Tensor, Tensor | None]:
    if x.numel() == 0:
        return torch.zeros_like(x), (torch.zeros_like(p) if need_p else None)
    x3, p3, rows = _canonical(x, p)
    g3 = g.reshape(x3.shape)
    xi3 = xi.reshape(x3.shape) if xi is not None else None
    gx3 = torch.empty_like(x3)
    block = (min(rows, x3.shape[0]), *x3.shape[1:])
    bufs = [x3.new_empty(block) for _ in range(4)]
    masks = [torch.empty(block, dtype=torch.bool, device=x.device) for _ in range(2)]
    gp = torch.zeros(p3.shape, dtype=x.dtype, device=x.device)
    affine = slope != 1.0 or offset != 0.0
    for a in range(0, x3.shape[0], rows):
        xc, gc, gxc = x3[a:a + rows], g3[a:a + rows], gx3[a:a + rows]
        m = xc.shape[0]
        u_, d, t, s = (b[:m] for b in bufs)
        inside, above = (mk[:m] for mk in masks)
        u = torch.mul(xc, slope, out=u_).add_(offset) if affine else xc
        torch.gt(u, low, out=inside)
        if high is not None:
            inside.logical_and_(torch.lt(u, high, out=above))
        # h' + (1 - alpha)(u' - h')... = slope where inside, (1 - alpha) slope beyond
        gxc.copy_(inside).mul_(alpha * slope).add_((1.0 - alpha) * slope).mul_(gc)
        if k == 0.0:
            continue
        torch.clamp(u, low, high, out=d).sub_(u)  # Delta
        torch.mul(d, p3, out=t)
        torch.sigmoid(t, out=s)
        torch.sigmoid(t.neg_(), out=t)
        t.mul_(s).mul_(s.sub_(0.5)).mul_(2.0)  # 2 v sigma(t) sigma(-t)
        t.mul_(gc).mul_(torch.sign(xc, out=s))
        if xi3 is not None:
            t.mul_(_same_dtype(xi3[a:a + rows], s))
        t.mul_(k)  # w = dL/d(p Delta)
        gxc.addcmul_(t, p3, value=-slope)
        if need_p:
            gp += t.mul_(d).sum(dim=(0, 2), keepdim=True) if p3.dim() else t.mul_(d).sum()
    return gx3.view(x.shape), (gp.reshape(p.shape) if need_p else None)


_EAGER = {"value": _nan_value_blocked, "grads": _nan_grads_blocked}
_PLAIN = {"value": _nan_value, "grads": _nan_grads}
_COMPILED: dict[str, Callable[..., Any]] = {}
_COMPILE_FAILED = False
_functorch_active: Callable[[], bool] = getattr(torch._C, "_are_functorch_transforms_active", lambda: False)


def _run(name: str, *args: Any) -> Any:
    """The blocked eager kernel, or the torch.compile'd plain function when ``compiled`` is on.
    While torch.compile or torch.export traces the model, or under torch.func transforms (vmap,
    grad, jacrev), the plain function: the compiler fuses its ops, where the blocked kernel's loop
    would be unrolled into the graph, and its ``out=`` buffers can be neither traced with autograd
    nor batched."""
    global _COMPILE_FAILED
    if torch.compiler.is_compiling() or _functorch_active():
        return _PLAIN[name](*args)
    if not _OPTIONS.compiled or _COMPILE_FAILED:
        return _EAGER[name](*args)
    if name not in _COMPILED:
        _COMPILED[name] = torch.compile(_PLAIN[name], dynamic=True)
    try:
        return _COMPILED[name](*args)
    except Exception as e:  # a missing C++ compiler, an unsupported backend: stay correct
        _COMPILE_FAILED = True
        warnings.warn(f"actlab.noisy: torch.compile failed ({type(e).__name__}: {e}); "
                      "using the eager kernel", RuntimeWarning, stacklevel=3)
        return _EAGER[name](*args)


class _NANFunction(torch.autograd.Function):
    """NAN as one autograd node: saves x, p and xi (or the generator state), nothing else."""

    generate_vmap_rule = True  # torch.func.vmap / grad / jacrev: the plain ops run batched (_run)

    @staticmethod
    def forward(x: Tensor, p: Tensor, xi: Tensor | None, unit_: Unit, alpha: float, k: float,
                redraw: _Redraw | None) -> Tensor:
        return _run("value", x, p, xi, alpha, k, unit_.slope, unit_.offset, unit_.low, unit_.high)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
        x, p, xi, unit_, alpha, k, redraw = inputs
        ctx.geometry = (unit_.slope, unit_.offset, unit_.low, unit_.high)
        ctx.alpha, ctx.k, ctx.redraw = alpha, k, redraw
        ctx.has_xi = xi is not None
        if xi is not None and redraw is None:
            ctx.save_for_backward(x, p, xi)
        else:
            ctx.save_for_backward(x, p)

    @staticmethod
    def backward(ctx, g: Tensor):
        saved = ctx.saved_tensors
        x, p = saved[0], saved[1]
        xi = saved[2] if len(saved) == 3 else (ctx.redraw() if ctx.has_xi else None)
        need_p = ctx.needs_input_grad[1]
        args = (g, x, p, xi, ctx.alpha, ctx.k, *ctx.geometry, need_p)
        # create_graph=True (double backward) needs the differentiable eager ops.
        gx, gp = _nan_grads(*args) if torch.is_grad_enabled() else _run("grads", *args)
        if gp is not None:
            gp = gp.sum_to_size(p.shape)
        return gx, gp, None, None, None, None, None


# ---------------------------------------------------------------------------------------------
# functional forms
# ---------------------------------------------------------------------------------------------
def _noise_for(x: Tensor, noise: str, generator: torch.Generator | None, xi: Tensor | None,
               entry: str) -> Tensor:
    if xi is None:
        return draw_noise(x, noise, generator)
    if xi.shape != x.shape:
        raise ValueError(f"{entry}: xi has shape {tuple(xi.shape)} but the input has "
                         f"{tuple(x.shape)}; valid: the same shape")
    return xi.to(dtype=x.dtype, device=x.device)


def nan(x: Tensor, unit_name: str = "hard_tanh", alpha: float = 1.15, c: float = 0.5,
        p: float | Tensor = 1.0, noise: str = "normal", eval_noise: str = "expectation", *,
        training: bool = False, generator: torch.Generator | None = None,
        xi: Tensor | None = None) -> Tensor:
    r"""NAN: :math:`\alpha h(x) + (1 - \alpha) u(x) - \mathrm{sgn}(x)\mathrm{sgn}(1 - \alpha)\,
    c(\sigma(p\Delta(x)) - \tfrac12)^2\,\xi` (Gulcehre et al. 2016, eq. 9).

    Args:
        unit_name: ``"hard_tanh"``, ``"hard_sigmoid"`` or ``"relu"``.
        p: a number, or a tensor (learned: one value, or one per unit along dim 1).
        training: draw xi (else the eval form: xi replaced by E[xi] or 0, see ``eval_noise``).
        xi: use this draw instead of drawing (training only; for half-normal noise pass |N(0,1)|).
    """
    AF.check_input(x, f"nan_{unit_name}")
    u_ = unit(unit_name)
    pt = _broadcast_p(p, x, f"nan_{unit_name}")
    sign = (alpha > 1.0) - (alpha < 1.0)
    if training and (c == 0.0 or sign == 0) and xi is None:  # no noise term: draw nothing
        return _NANFunction.apply(x, pt, None, u_, float(alpha), 0.0, None)
    if training:
        redraw = None
        if xi is not None:
            noise_t = _noise_for(x, noise, generator, xi, f"nan_{unit_name}")
        elif _OPTIONS.recompute_noise:
            redraw = _Redraw(x, _choice(noise, NOISE_TYPES, "noise"), generator, _nan_noise_dtype(x))
            noise_t = redraw.draw()
        else:
            noise_t = draw_noise(x, noise, generator, _nan_noise_dtype(x))
        return _NANFunction.apply(x, pt, noise_t, u_, float(alpha), float(c) * sign, redraw)
    k = float(c) * sign * eval_xi(noise, eval_noise)
    return _NANFunction.apply(x, pt, None, u_, float(alpha), k, None)


def d_nan(x: Tensor, unit_name: str = "hard_tanh", alpha: float = 1.15, c: float = 0.5,
          p: float | Tensor = 1.0, noise: str = "normal", eval_noise: str = "expectation") -> Tensor:
    """Closed-form derivative of NAN's eval form."""
    AF.check_input(x, f"d_nan_{unit_name}")
    if x.dtype in (torch.float16, torch.bfloat16):
        return d_nan(x.float(), unit_name, alpha, c, p, noise, eval_noise).to(x.dtype)
    u_ = unit(unit_name)
    pt = _broadcast_p(p, x, f"nan_{unit_name}")
    sign = (alpha > 1.0) - (alpha < 1.0)
    k = float(c) * sign * eval_xi(noise, eval_noise)
    gx, _ = _nan_grads(torch.ones_like(x), x, pt, None, float(alpha), k, u_.slope, u_.offset,
                       u_.low, u_.high, False)
    return gx


def nani(x: Tensor, unit_name: str = "hard_tanh", c: float = 0.05, noise: str = "normal",
         eval_noise: str = "expectation", *, training: bool = False,
         generator: torch.Generator | None = None, xi: Tensor | None = None) -> Tensor:
    r"""NANI: :math:`h(x + c\,\xi)`; eval: :math:`h(x + c\,E[\xi])` (or :math:`h(x)`)."""
    AF.check_input(x, f"nani_{unit_name}")
    u_ = unit(unit_name)
    if training:
        return u_.h(x + c * _noise_for(x, noise, generator, xi, f"nani_{unit_name}"))
    a = c * eval_xi(noise, eval_noise)
    return u_.h(x + a) if a else u_.h(x)


def d_nani(x: Tensor, unit_name: str = "hard_tanh", c: float = 0.05, noise: str = "normal",
           eval_noise: str = "expectation") -> Tensor:
    a = c * eval_xi(noise, eval_noise)
    return unit(unit_name).dh(x + a if a else x)


def nanis(x: Tensor, unit_name: str = "hard_tanh", c: float = 1.0, noise: str = "normal",
          eval_noise: str = "expectation", *, training: bool = False,
          generator: torch.Generator | None = None, xi: Tensor | None = None) -> Tensor:
    r"""NANIS: :math:`h(x + c\,\xi)` where x is strictly beyond a threshold, :math:`h(x)`
    elsewhere (the mask multiplies; the authors' hard_sigmoid code adds it)."""
    AF.check_input(x, f"nanis_{unit_name}")
    u_ = unit(unit_name)
    if training:
        shift = c * _noise_for(x, noise, generator, xi, f"nanis_{unit_name}")
    else:
        shift = c * eval_xi(noise, eval_noise)
        if not shift:
            return u_.h(x)
    return u_.h(torch.where(u_.saturated(x), x + shift, x))


def d_nanis(x: Tensor, unit_name: str = "hard_tanh", c: float = 1.0, noise: str = "normal",
            eval_noise: str = "expectation") -> Tensor:
    u_ = unit(unit_name)
    a = c * eval_xi(noise, eval_noise)
    return u_.dh(torch.where(u_.saturated(x), x + a, x) if a else x)


# softplus(t) = t beyond it: off by log1p(e^-40) = 4e-18, below float64 resolution (PyTorch's
# default 20 is off by 2e-9).
_SOFTPLUS_THRESHOLD = 40.0


def nanil(x: Tensor, unit_name: str = "hard_tanh", c: float = 0.25, p: float | Tensor = 1.0,
          noise: str = "normal", eval_noise: str = "expectation", *, training: bool = False,
          generator: torch.Generator | None = None, xi: Tensor | None = None) -> Tensor:
    r"""NANIL: :math:`h(x + c\,\mathrm{softplus}(p\,|\Delta(x)|)\,\xi)`, ``p`` learned; the scale
    depends on x only (not on the draw, unlike the authors' code)."""
    AF.check_input(x, f"nanil_{unit_name}")
    u_ = unit(unit_name)
    pt = _broadcast_p(p, x, f"nanil_{unit_name}")
    if training:
        z = c * _noise_for(x, noise, generator, xi, f"nanil_{unit_name}")
    else:
        z = c * eval_xi(noise, eval_noise)
        if not z and not pt.requires_grad:  # (a learned p keeps its, zero, gradient)
            return u_.h(x)
    delta = u_.h(x) - u_.u(x)
    return u_.h(x + F.softplus(pt * delta.abs(), threshold=_SOFTPLUS_THRESHOLD) * z)


def d_nanil(x: Tensor, unit_name: str = "hard_tanh", c: float = 0.25, p: float | Tensor = 1.0,
            noise: str = "normal", eval_noise: str = "expectation") -> Tensor:
    AF.check_input(x, f"d_nanil_{unit_name}")
    if x.dtype in (torch.float16, torch.bfloat16):
        return d_nanil(x.float(), unit_name, c, p, noise, eval_noise).to(x.dtype)
    u_ = unit(unit_name)
    a = c * eval_xi(noise, eval_noise)
    if not a:
        return u_.dh(x)
    pt = _broadcast_p(p, x, f"nanil_{unit_name}")
    delta = u_.h(x) - u_.u(x)
    t = pt * delta.abs()
    # softplus'(t) as PyTorch's backward computes it: 1 beyond the threshold, else sigmoid.
    sp_grad = torch.where(t > _SOFTPLUS_THRESHOLD, torch.ones_like(t), torch.sigmoid(t))
    dz = 1.0 + a * sp_grad * pt * torch.sign(delta) * (u_.dh(x) - u_.slope)
    return u_.dh(x + F.softplus(t, threshold=_SOFTPLUS_THRESHOLD) * a) * dz


def nan_composed(x: Tensor, unit_name: str, alpha: float, c: float, p: float | Tensor,
                 xi: Tensor | float) -> Tensor:
    """NAN as the straightforward autograd composition of the paper's equation, for a given xi
    (a tensor, or E[xi] for the eval form): the baseline of ``benchmarks/bench_noisy.py`` and of
    the tests. It runs about ten elementwise ops and autograd saves several input-sized tensors;
    :func:`nan` computes the same values and gradients in one autograd node."""
    u_ = unit(unit_name)
    pt = _broadcast_p(p, x, f"nan_{unit_name}")
    u = u_.u(x)
    h = u_.h(x)
    delta = h - u
    d = -torch.sign(x) * ((1.0 - alpha > 0) - (1.0 - alpha < 0))
    s = c * (torch.sigmoid(pt * delta) - 0.5) ** 2
    return alpha * h + (1.0 - alpha) * u + d * s * xi


FUNCTIONS = {"nan": nan, "nani": nani, "nanis": nanis, "nanil": nanil}
DERIVATIVES = {"nan": d_nan, "nani": d_nani, "nanis": d_nanis, "nanil": d_nanil}
