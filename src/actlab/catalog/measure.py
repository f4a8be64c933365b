"""Numerical measurement of an activation's properties, in float64.

One set of checks serves two purposes: ``tests/test_catalog_*.py`` measures every built-in entry
and compares with what its spec declares (so that metadata cannot lie), and
:func:`actlab.register` measures the properties a user did not declare (marked as measured).

All functions take a univariate callable ``f`` on float64 tensors. For entries that mix features
(softmax, maxout), :func:`scalar_slice` gives the univariate function of one coordinate with the
others held at 0.

How each property is measured (``measure_properties``):

* The grid is dyadic, ``k * 2**-12`` for ``|x| <= 50``: 0, the integers and the halves are exact
  grid points, and no two points are closer than the step (``linspace`` plus extra points gave
  pairs 1e-15 apart, which made every finite difference meaningless).
* Far points ``+-1e3 ... +-1e15`` extend the range and decide boundedness, the tail of f' and
  monotonicity beyond the grid.
* A jump of f (discontinuity) or of f' (kink) is a candidate where one grid step changes the value
  far more than its neighbours do; it is confirmed by bisection down to adjacent floats, where a
  smooth function changes by rounding only and a jump keeps its size. This also locates the jump
  to float64 precision (``hard_sigmoid(slope=0.6)`` has kinks at +-0.8333...).
* A jump of f'' (C^1 but not C^2, e.g. ELU, softsign) is a candidate in the grid's second
  differences, confirmed on a 64 times finer local grid.
* Saturation is hard where f' is exactly 0 on a whole tail and becomes non-negligible within one
  unit inside the boundary (located by bisection); a derivative that merely underflows to 0 far
  out (gelu's ``x * phi(x)`` below -38) is soft. Soft: f' -> 0 (``|f'(+-1e12)|`` tiny).

Limits: properties beyond ``|x| = 50`` that the far points do not reveal, and C^k for k >= 2
(reported as infinitely smooth), cannot be measured and are documented as such.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from actlab.catalog.spec import NONE, SOFT, Interval, Properties, Saturation, hard

UFn = Callable[[Tensor], Tensor]

#: The float64 grid on which properties are measured: ``k * GRID_STEP`` for ``|x| <= GRID_HALF_WIDTH``.
GRID_HALF_WIDTH = 50.0
GRID_STEP = 2.0**-12
#: Points beyond the grid, used for bounds, tails and monotonicity.
FAR = (1e3, 1e6, 1e9, 1e12, 1e15)
#: Fixed-point runs (f(x) == x to rounding) count only if they reach into this range: far out,
#: silu/gelu/softplus equal x to float64 rounding without being fixed points.
FIXED_RUN_HALF_WIDTH = 6.0
#: A jump of f or f' smaller than this (relative to max(1, |value|)) is not reported (well above the
#: float32 rounding steps of a user function computed in float32: 2^-23 relative).
JUMP_TOL = 1e-6
#: A zero tail of f' is hard saturation only if |f'| exceeds this within one unit inside it; a
#: derivative that underflows (gelu's x * phi(x) below -38: 1e-304 one unit inside) is soft.
HARD_MIN_SLOPE = 1e-30

MEASURABLE = frozenset(Properties.__dataclass_fields__) - {
    "learnable", "stochastic", "elementwise", "measured"
}


def grid(half_width: float = GRID_HALF_WIDTH, step: float = GRID_STEP) -> Tensor:
    """The dyadic float64 grid ``k * step``, ``|k * step| <= half_width`` (0 is on it)."""
    n = math.floor(half_width / step + 1e-9)
    return torch.arange(-n, n + 1, dtype=torch.float64) * step


def scalar_slice(fn: Callable[..., Tensor], elementwise: bool, **params: Any) -> UFn:
    """The univariate function t -> f(x)[0] with x = (t, 0, ..., 0) along the last dim.

    For softmax this is sigmoid(t), for log_softmax log sigmoid(t), for maxout (k pieces)
    max(t, 0) = relu(t). Elementwise functions are returned as they are (bound to ``params``).
    """
    if elementwise:
        return lambda x: fn(x, **params)
    width = max(2, int(params.get("k", 2)))
    call = {k_: v for k_, v in params.items() if k_ != "dim"}

    def sliced(t: Tensor) -> Tensor:
        rest = torch.zeros((*t.shape, width - 1), dtype=t.dtype, device=t.device)
        x = torch.cat([t.unsqueeze(-1), rest], dim=-1)
        return fn(x, dim=-1, **call)[..., 0]

    return sliced


def autograd_grad(f: UFn, x: Tensor) -> Tensor:
    """f'(x) by autograd for an elementwise ``f`` (0 where f does not depend on x)."""
    with torch.enable_grad():
        xr = x.detach().clone().requires_grad_(True)
        (g,) = torch.autograd.grad(f(xr).sum(), xr, allow_unused=True)
    return torch.zeros_like(x) if g is None else g.detach()


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
        if b - a < 1e-15 * max(1.0, abs(a)):
            break
    return 0.5 * (a + b)


def at(f: UFn, x: float) -> float:
    """f at one point, in float64."""
    return float(f(torch.tensor([x], dtype=torch.float64))[0])


def gaussian_mean(f: UFn, n: int = 400_001, half_width: float = 12.0) -> float:
    """E[f(z)], z ~ N(0, 1), by the trapezoid rule on a fine grid.

    Accurate to ~1e-9 for functions with kinks (error O(h^2) with h = 6e-5), far below the 1e-6
    that decides ``zero_centred``; the tails beyond 12 sigma weigh less than 1e-32."""
    z = torch.linspace(-half_width, half_width, n, dtype=torch.float64)
    w = torch.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    return float(torch.trapezoid(f(z) * w, z))


def _snap(c: float, x: Tensor, step: float = GRID_STEP) -> float:
    """Round ``c`` to the nearest grid point when within 1e-12 (kinks at 0, -3, 6 come out
    exactly)."""
    k = round(c / step)
    g = k * step
    return float(g) + 0.0 if abs(g - c) <= 1e-12 * max(1.0, abs(c)) else c + 0.0


def _jump_candidates(v: Tensor, floor: Tensor | float, limit: int = 64) -> list[int]:
    """Indices i where v[i+1] - v[i] is above ``floor`` and 3 times the smaller neighbouring step.

    Smooth functions change by about the same amount over neighbouring steps; a jump is one
    step much larger than one of its neighbours (both neighbours for a jump between grid points,
    one of them when the jump's convention value sits on a grid point)."""
    dv = (v[1:] - v[:-1]).abs()
    dv = torch.nan_to_num(dv, nan=0.0, posinf=0.0)
    prev = torch.cat([dv[:1], dv[:-1]])
    nxt = torch.cat([dv[1:], dv[-1:]])
    mask = (dv > floor) & (dv > 3.0 * torch.minimum(prev, nxt))
    idx = torch.nonzero(mask).flatten()
    if len(idx) > limit:  # keep the largest steps
        idx = idx[torch.argsort(dv[idx], descending=True)[:limit]]
    return sorted(idx.tolist())


def _locate_jump(g: Callable[[float], float], a: float, b: float) -> tuple[float, float, float, float]:
    """Bisect [a, b] keeping the jump of ``g`` inside, down to adjacent floats.

    Returns (a, b, g(a), g(b)); for a jump |g(b) - g(a)| stays the jump's size, for a smooth g it
    falls to rounding."""
    ga, gb = g(a), g(b)
    for _ in range(1100):  # enough to reach adjacent floats even near 0 (subnormals)
        m = 0.5 * (a + b)
        if not a < m < b:
            break
        gm = g(m)
        if abs(gm - ga) <= abs(gm - gb):
            a, ga = m, gm
        else:
            b, gb = m, gm
    return a, b, ga, gb


def _jumps(x: Tensor, v: Tensor, g: Callable[[float], float]) -> list[tuple[float, float]]:
    """Confirmed jumps of the sampled function ``v = g(x)``: (location, size)."""
    xs = x.tolist()
    floor = JUMP_TOL * v.abs().clamp(min=1.0)[:-1]
    out: list[tuple[float, float]] = []
    for i in _jump_candidates(v, floor):
        a, b, ga, gb = _locate_jump(g, xs[i], xs[i + 1])
        size = abs(gb - ga)
        if math.isfinite(size) and size > JUMP_TOL * max(1.0, abs(ga), abs(gb)):
            c = _snap(b if abs(b) < abs(a) else a, x) if a * b <= 0 else _snap(0.5 * (a + b), x)
            if not any(abs(c - c0) <= 1e-9 * max(1.0, abs(c)) for c0, _ in out):
                out.append((c, size))
    return out


def _second_derivative_jumps(x: Tensor, d: Tensor, df: UFn) -> bool:
    """Whether f'' jumps somewhere on the grid (f is C^1 but not C^2 there)."""
    h = float(x[1] - x[0])
    e2 = (d[1:] - d[:-1]) / h  # f'' at the midpoints
    scale = float(torch.nan_to_num(e2, nan=0.0, posinf=0.0, neginf=0.0).abs().max())
    floor = 1e-4 * max(1.0, scale)
    for i in _jump_candidates(e2, floor, limit=32):
        # Re-sample around the candidate 64 times finer: a jump keeps its size, a smooth f''
        # changes 64 times less per step.
        lo, hi = float(x[max(i - 1, 0)]), float(x[min(i + 2, len(x) - 1)])
        fine = torch.linspace(lo, hi, 3 * 64 + 1, dtype=torch.float64)
        dfine = df(fine)
        e2f = (dfine[1:] - dfine[:-1]) / float(fine[1] - fine[0])
        steps = (e2f[1:] - e2f[:-1]).abs()
        if float(steps.max()) > floor and float(steps.max()) > 16.0 * float(steps.median()):
            return True
    return False


def _runs(mask: Tensor) -> list[tuple[int, int]]:
    """Maximal runs of True in a 1-D bool tensor, as (first, last) indices."""
    m = mask.to(torch.int8)
    edges = torch.diff(torch.cat([m.new_zeros(1), m, m.new_zeros(1)]))
    starts = torch.nonzero(edges == 1).flatten().tolist()
    ends = (torch.nonzero(edges == -1).flatten() - 1).tolist()
    return list(zip(starts, ends))


def fixed_points(f: UFn, x: Tensor | None = None, tol: float = 1e-12) -> tuple[Interval, ...]:
    """Solutions of f(x) = x, as closed intervals (an isolated point is ``(x, x)``).

    Isolated roots: sign changes of f(x) - x on the grid, refined by bisection and kept only if
    |f(r) - r| <= 1e-9 (a jump across the diagonal is not a root). Runs: grid points where
    f(x) == x to ``tol`` (relative), reaching into ``[-FIXED_RUN_HALF_WIDTH, FIXED_RUN_HALF_WIDTH]``;
    the ends of runs longer than one point are refined by bisection, and a run reaching the edge
    of the grid is unbounded."""
    x = grid() if x is None else x
    g = f(x) - x
    xs = x.tolist()
    out: list[Interval] = []

    def refine(inside: float, outside: float) -> float:
        # The end of an interval of fixed points, where f(t) == t stops holding exactly (clamps,
        # relu and the linear pieces return t itself); tangential roots are not refined, since
        # tanh(t) == t in float64 for |t| < 2e-8.
        for _ in range(200):
            m = 0.5 * (inside + outside)
            if m in (inside, outside):
                break
            if at(f, m) == m:
                inside = m
            else:
                outside = m
        return inside

    def end(t: float) -> float:
        # snapped to the grid only if that is still a fixed point (softplus with threshold 1 is
        # x itself for x > 1, but not at 1)
        s = _snap(t, x)
        return s if at(f, s) == s else t

    near = g.abs() <= tol * x.abs().clamp(min=1.0)
    for i, j in _runs(near):
        lo, hi = xs[i], xs[j]
        if hi < -FIXED_RUN_HALF_WIDTH or lo > FIXED_RUN_HALF_WIDTH:
            continue
        if i == j:  # an isolated grid point
            out.append((lo, lo))
            continue
        lo = -math.inf if i == 0 else end(refine(lo, xs[i - 1]))
        hi = math.inf if j == len(xs) - 1 else end(refine(hi, xs[j + 1]))
        out.append((lo, hi))

    sign = torch.sign(g)
    change = torch.nonzero((sign[:-1] * sign[1:]) < 0).flatten().tolist()
    for i in change:
        root = bisect_root(lambda t: at(f, t) - t, xs[i], xs[i + 1])
        if abs(at(f, root) - root) > 1e-9 * max(1.0, abs(root)):
            continue
        if not any(a - 1e-9 <= root <= b + 1e-9 for a, b in out):
            out.append((root, root))
    return tuple(sorted(out))


def _finite(values: list[float]) -> list[float]:
    return [v for v in values if not math.isnan(v)]


def measure_properties(
    fn: Callable[..., Tensor],
    derivative: Callable[..., Tensor] | None = None,
    elementwise: bool = True,
    **params: Any,
) -> Properties:
    """Measure every property of :class:`Properties` numerically (all marked as measured).

    ``fn(x, **params)`` (and ``derivative``, by autograd when omitted) on the float64 grid and the
    far points; see the module docstring for how each property is decided. ``learnable`` and
    ``stochastic`` cannot be measured from the function and are reported False.

    Raises:
        ValueError: ``fn`` returns NaN (or a wrong shape) on the grid.
    """
    f = scalar_slice(fn, elementwise, **params)
    if derivative is None:
        def df(t: Tensor) -> Tensor:
            return autograd_grad(f, t)
    else:
        df = scalar_slice(derivative, elementwise, **params)
    x = grid()
    xs = x.tolist()
    y = f(x).detach()
    if y.shape != x.shape:
        raise ValueError(f"measure: fn must be elementwise; got shape {tuple(y.shape)} for "
                         f"input shape {tuple(x.shape)}")
    if torch.isnan(y).any():
        bad = float(x[torch.isnan(y)][0])
        raise ValueError(f"measure: fn returns NaN at x={bad:g}; a finite value is needed on "
                         f"[-{GRID_HALF_WIDTH:g}, {GRID_HALF_WIDTH:g}]")
    d = df(x).detach()
    far_x = torch.tensor([-v for v in reversed(FAR)] + list(FAR), dtype=torch.float64)
    with torch.no_grad():
        far_y = f(far_x).tolist()
    far_d = df(far_x).tolist()
    nfar = len(FAR)
    left_y, right_y = far_y[:nfar][::-1], far_y[nfar:]  # ordered by distance from 0

    def fy(t: float) -> float:
        return at(f, t)

    def fd(t: float) -> float:
        return at(df, t)

    # -- jumps of f and f' (kinks), smoothness --------------------------------------------------
    f_jumps = _jumps(x, y, fy)
    d_jumps = _jumps(x, d, fd)
    kinks = tuple(sorted({c for c, _ in f_jumps} | {c for c, _ in d_jumps}))
    if f_jumps:
        smoothness = -1.0
    elif d_jumps:
        smoothness = 0.0
    elif _second_derivative_jumps(x, d, df):
        smoothness = 1.0
    else:
        smoothness = math.inf
    diff0 = not any(abs(c) <= 1e-12 for c in kinks)

    # -- sup |f'| -------------------------------------------------------------------------------
    ad = torch.nan_to_num(d.abs(), nan=0.0)
    i = int(torch.argmax(ad))
    sup = grid_sup = float(ad[i])
    if 0 < i < len(xs) - 1 and math.isfinite(sup):
        t = golden_min(lambda s: -abs(fd(s)), xs[i - 1], xs[i + 1])
        sup = max(sup, abs(fd(t)))
    sup = max([sup, *(abs(v) for v in _finite(far_d))])
    # |f'| still growing at the farthest points (1e12 -> 1e15): unbounded (relu(x)^2).
    for nearer, farthest in ((far_d[1], far_d[0]), (far_d[-2], far_d[-1])):
        if abs(farthest) > 2.0 * abs(nearer) and abs(farthest) > 1.0:
            sup = math.inf

    # -- saturation -----------------------------------------------------------------------------
    def side(left: bool) -> Saturation:
        dd = d if not left else d.flip(0)
        xx = xs if not left else xs[::-1]
        inward = -1.0 if not left else 1.0
        tail = _finite(far_d[nfar:] if not left else far_d[:nfar][::-1])
        if float(dd[-1]) == 0.0:
            nz = torch.nonzero(dd != 0).flatten()
            if len(nz) == 0:  # f' == 0 everywhere (step): saturated from its jumps on
                js = [c for c, _ in f_jumps]
                return Saturation("hard", (min(js) if left else max(js)) if js else None)
            j = int(nz[-1])  # last non-zero, seen from this side's end
            inside, outside = xx[j], xx[j + 1]
            for _ in range(200):  # the boundary of the zero tail, to float precision
                m = 0.5 * (inside + outside)
                if m in (inside, outside):
                    break
                if fd(m) == 0.0:
                    outside = m
                else:
                    inside = m
            thr = _snap(outside, x)
            # Hard only if f' becomes non-negligible within one unit inside the boundary; a
            # derivative that underflows to 0 (gelu's left tail: 1e-304 one unit inside) is soft.
            probe = torch.linspace(thr, thr + inward, 257, dtype=torch.float64)
            if float(df(probe).abs().max()) > HARD_MIN_SLOPE:
                return hard(thr)
            return SOFT
        far = tail[-1] if tail else float(dd[-1])
        return SOFT if abs(far) <= 1e-5 * max(1.0, grid_sup) else NONE

    saturation = (side(True), side(False))

    # -- range ----------------------------------------------------------------------------------
    def extreme(sign: float) -> tuple[float, bool]:
        """inf (sign=1) or sup (sign=-1) of f, and whether it is attained."""
        v = sign * y
        far_left = [sign * t for t in _finite(left_y)]
        far_right = [sign * t for t in _finite(right_y)]
        # Unbounded when the far values keep going (-inf, or down by more than 1 per decade).
        for tail in (far_left, far_right):
            if tail and (tail[-1] == -math.inf or (tail[-1] < float(v.min()) - 1
                                                   and tail[-1] < tail[-2] - 1)):
                return -sign * math.inf, False
        k = int(torch.argmin(v))
        m = float(v[k])
        if 0 < k < len(xs) - 1:
            t = golden_min(lambda s: sign * fy(s), xs[k - 1], xs[k + 1])
            m = min(m, sign * fy(t))
        at_min = v <= m
        runs = _runs(at_min)
        interior = any(not (i == 0 or j == len(xs) - 1) for i, j in runs) or m < float(v.min())
        attained = interior
        if not interior:  # reached only on a plateau at an edge of the grid
            on_left = bool(at_min[0])
            sat = saturation[0] if on_left else saturation[1]
            attained = sat.kind == "hard"
        beyond = min(far_left + far_right, default=math.inf)
        if beyond < m:
            m, attained = beyond, False
        return sign * m, attained

    lo, lo_att = extreme(1.0)
    hi, hi_att = extreme(-1.0)

    # -- monotonicity ---------------------------------------------------------------------------
    seq = torch.tensor(_finite(left_y)[::-1] + y.tolist() + _finite(right_y), dtype=torch.float64)
    slack = 1e-13 * seq.abs().clamp(min=1.0)
    monotonic = bool((seq[1:] >= seq[:-1] - slack[1:]).all())

    zero_centred = abs(gaussian_mean(f)) < 1e-6
    fps = fixed_points(f, x) if elementwise else ()
    return Properties(
        output_range=(lo + 0.0, hi + 0.0),
        range_attained=(lo_att, hi_att),
        monotonic=monotonic,
        zero_centred=zero_centred,
        smoothness=smoothness,
        differentiable_at_0=diff0,
        kinks=kinks,
        saturation=saturation,
        sup_derivative=sup,
        fixed_points=fps,
        elementwise=elementwise,
        measured=MEASURABLE,
    )
