"""Numerical measurement of an activation's properties, in float64.

One set of checks serves two purposes: ``tests/test_catalog.py`` measures every built-in entry and
compares with what its spec declares (so that metadata cannot lie), and
:func:`actlab.register` measures the properties a user did not declare (marked as measured).

All functions take a univariate callable ``f`` on float64 tensors. For entries that mix features
(softmax, maxout), :func:`scalar_slice` gives the univariate function of one coordinate with the
others held at 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from actlab.catalog.spec import NONE, SOFT, Interval, Properties, Saturation, hard

UFn = Callable[[Tensor], Tensor]

#: The float64 grid on which properties are measured: [-GRID_HALF_WIDTH, GRID_HALF_WIDTH].
GRID_HALF_WIDTH = 50.0
GRID_POINTS = 400_001
#: Exact fixed-point runs (f(x) == x to rounding) are looked for on this narrower range only: far
#: out, silu/gelu/softplus equal x to float64 rounding without being fixed points.
FIXED_RUN_HALF_WIDTH = 6.0


def grid(half_width: float = GRID_HALF_WIDTH, n: int = GRID_POINTS) -> Tensor:
    g = torch.linspace(-half_width, half_width, n, dtype=torch.float64)
    # Make sure 0 and the integers that are typical kinks/thresholds are on the grid exactly.
    extra = torch.arange(-10.0, 10.5, 0.5, dtype=torch.float64)
    return torch.unique(torch.cat([g, extra]))


def scalar_slice(fn: Callable[..., Tensor], elementwise: bool, **params: Any) -> UFn:
    """The univariate function t -> f(x)[0] with x = (t, 0): for softmax this is sigmoid(t)."""
    if elementwise:
        return lambda x: fn(x, **params)

    def sliced(t: Tensor) -> Tensor:
        k = int(params.get("k", 2))
        x = torch.zeros((*t.shape, max(2, k)), dtype=t.dtype)
        x[..., 0] = t
        call = {k_: v for k_, v in params.items() if k_ != "dim"}
        return fn(x, dim=-1, **call)[..., 0]

    return sliced


def autograd_grad(f: UFn, x: Tensor) -> Tensor:
    with torch.enable_grad():
        xr = x.detach().clone().requires_grad_(True)
        (g,) = torch.autograd.grad(f(xr).sum(), xr, allow_unused=True)
    return torch.zeros_like(x) if g is None else g


def bisect_root(g: Callable[[float], float], a: float, b: float, iters: int = 200) -> float:
    """A root of ``g`` in [a, b] (g(a), g(b) of opposite signs), to float64 precision."""
    ga = g(a)
    for _ in range(iters):
        m = 0.5 * (a + b)
        gm = g(m)
        if gm == 0.0 or b - a <= 4e-16 * max(1.0, abs(m)):
            return m
        if (gm > 0) == (ga > 0):
            a, ga = m, gm
        else:
            b = m
    return 0.5 * (a + b)


def golden_min(g: Callable[[float], float], a: float, b: float, iters: int = 200) -> float:
    """The argmin of a unimodal ``g`` on [a, b] by golden-section search."""
    r = (math.sqrt(5.0) - 1.0) / 2.0
    c, d = b - r * (b - a), a + r * (b - a)
    gc, gd = g(c), g(d)
    for _ in range(iters):
        if gc < gd:
            b, d, gd = d, c, gc
            c = b - r * (b - a)
            gc = g(c)
        else:
            a, c, gc = c, d, gd
            d = a + r * (b - a)
            gd = g(d)
        if b - a < 1e-15:
            break
    return 0.5 * (a + b)


def at(f: UFn, x: float) -> float:
    return float(f(torch.tensor([x], dtype=torch.float64))[0])


def gaussian_mean(f: UFn, n: int = 2_000_001, half_width: float = 12.0) -> float:
    """E[f(z)], z ~ N(0, 1), by the trapezoid rule on a fine grid (robust to kinks)."""
    z = torch.linspace(-half_width, half_width, n, dtype=torch.float64)
    w = torch.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    return float(torch.trapezoid(f(z) * w, z))


def fixed_points(f: UFn, x: Tensor | None = None, tol: float = 1e-12) -> tuple[Interval, ...]:
    """Solutions of f(x) = x: isolated roots (sign changes of f(x) - x, refined by bisection) and
    runs where f(x) == x to ``tol`` (relative) on the narrower range, returned as intervals.
    Runs reaching the edge of that range are reported as unbounded."""
    x = grid() if x is None else x
    g = f(x) - x
    out: list[Interval] = []
    near = (x.abs() <= FIXED_RUN_HALF_WIDTH) & (g.abs() <= tol * x.abs().clamp(min=1.0))
    idx = torch.nonzero(near).flatten().tolist()
    runs: list[list[int]] = []
    for i in idx:
        if runs and i == runs[-1][-1] + 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    xs = x.tolist()
    for r in runs:
        lo, hi = xs[r[0]], xs[r[-1]]
        if lo <= -FIXED_RUN_HALF_WIDTH + 1e-9:
            lo = -math.inf
        if hi >= FIXED_RUN_HALF_WIDTH - 1e-9:
            hi = math.inf
        out.append((lo, hi))
    sign = torch.sign(g)
    gs = g.tolist()
    change = torch.nonzero((sign[:-1] * sign[1:]) < 0).flatten().tolist()

    def gf(t: float) -> float:
        return at(f, t) - t

    for i in change:
        root = bisect_root(gf, xs[i], xs[i + 1])
        if not any(a - 1e-9 <= root <= b + 1e-9 for a, b in out) and abs(gs[i]) < math.inf:
            out.append((root, root))
    return tuple(sorted(out))


def measure_properties(
    fn: Callable[..., Tensor],
    derivative: Callable[..., Tensor] | None = None,
    elementwise: bool = True,
    **params: Any,
) -> Properties:
    """Measure every property of Properties numerically (all marked as measured).

    Range: min/max on the grid, extended to infinity when f keeps growing at +-1e6. Saturation:
    hard where f' is exactly 0 on a whole tail, soft where |f'| < 1e-6 at +-50, else none.
    Smoothness: -1 if f jumps by more than 1e-6 between neighbouring grid points where it is
    otherwise flat, 0 if f' jumps, 1 if f'' jumps, else infinity (to grid resolution)."""
    f = scalar_slice(fn, elementwise, **params)
    x = grid()
    y = f(x)
    d = autograd_grad(f, x) if derivative is None else scalar_slice(derivative, elementwise, **params)(x)
    big = torch.tensor([-1e6, -1e3, 1e3, 1e6], dtype=torch.float64)
    yb = f(big).tolist()
    lo, hi = float(y.min()), float(y.max())
    lo_attained = hi_attained = True
    if yb[0] < lo - 1 and yb[0] < yb[1] - 1:
        lo, lo_attained = -math.inf, False
    if yb[3] < lo - 1 and yb[3] < yb[2] - 1:
        lo, lo_attained = -math.inf, False
    if yb[3] > hi + 1 and yb[3] > yb[2] + 1:
        hi, hi_attained = math.inf, False
    if yb[0] > hi + 1 and yb[0] > yb[1] + 1:
        hi, hi_attained = math.inf, False
    # A bound approached only asymptotically: the extreme is at the edge of the grid.
    if lo_attained and float(y[0]) == lo and lo < float(y[1]):
        lo_attained = False
    if hi_attained and float(y[-1]) == hi and hi > float(y[-2]):
        hi_attained = False

    monotonic = bool((y[1:] >= y[:-1] - 1e-12 * y.abs()[1:].clamp(min=1)).all())
    zero_centred = abs(gaussian_mean(f)) < 1e-6

    dy = (y[1:] - y[:-1]).abs()
    h = float(x[1] - x[0])
    jump_f = bool((dy > 1e-6 + 50 * h * d.abs().max()).any())
    dd = (d[1:] - d[:-1]).abs()
    kink_idx = torch.nonzero(dd > 1e-3).flatten()
    # A kink is a jump of f' between neighbours larger than smooth curvature could make.
    kinks = tuple(sorted({round(float(x[i] + x[i + 1]) / 2, 3) + 0.0 for i in kink_idx.tolist()}))
    d2 = (d[1:] - d[:-1]) / (x[1:] - x[:-1])
    jump_d2 = bool(((d2[1:] - d2[:-1]).abs() > 0.05).any())
    smoothness = -1.0 if jump_f else 0.0 if kinks else 1.0 if jump_d2 else math.inf
    i0 = int(torch.argmin(x.abs()))
    diff0 = not jump_f and not any(abs(k) < 1e-9 for k in kinks)
    if 0 < i0 < len(x) - 1 and abs(float(d[i0 + 1]) - float(d[i0 - 1])) > 1e-3:
        diff0 = False

    def side(mask: Tensor, left: bool) -> Saturation:
        tail = d[mask]
        edge = float(tail[0] if left else tail[-1])
        if edge == 0.0:
            nz = torch.nonzero(d != 0).flatten()
            if len(nz) == 0:
                return hard(0.0)
            thr = float(x[nz[0] - 1]) if left else float(x[nz[-1] + 1])
            if (left and nz[0] == 0) or (not left and nz[-1] == len(x) - 1):
                return SOFT
            return hard(thr)
        return SOFT if abs(edge) < 1e-6 else NONE

    sat = (side(x < 0, True), side(x > 0, False))
    fps = fixed_points(f, x) if elementwise else ()
    return Properties(
        output_range=(lo, hi),
        range_attained=(lo_attained, hi_attained),
        monotonic=monotonic,
        zero_centred=zero_centred,
        smoothness=smoothness,
        differentiable_at_0=diff0,
        kinks=kinks,
        saturation=sat,
        sup_derivative=float(d.abs().max()),
        fixed_points=fps,
        elementwise=elementwise,
        measured=frozenset(Properties.__dataclass_fields__) - {"learnable", "stochastic",
                                                                "elementwise", "measured"},
    )
