r"""Gaussian expectations of activations, in float64, vectorised over many variances at once.

Mean-field theory needs, for many values of the variance :math:`q` (and correlation :math:`c`),

.. math::
    E[f(\sqrt{q}\,z)],\ z \sim N(0, 1) \qquad\text{and}\qquad
    E[f(u_1)\,g(u_2)],\ (u_1, u_2) \sim N\!\left(0, q\begin{pmatrix}1 & c\\ c & 1\end{pmatrix}\right).

Two rules are provided:

* :class:`Hermite` - Gauss-Hermite (probabilists' weight :math:`e^{-z^2/2}`), tensor product in 2-D.
  Spectrally accurate for *analytic* integrands whose singularities stay far from the real axis
  (tanh^2 at q = 1: error 3e-9 with 64 nodes), but slow for everything else. Measured errors with
  16 / 64 / 256 nodes: ``E[relu(z - 0.3)^2]`` 3e-3 / 4e-4 / 1e-5 (f'' jumps), ``E[selu'(z)^2]``
  6e-2 / 2e-2 / 4e-3 (f' jumps), ``E[tanh(10 z)^2]`` 8e-2 / 6e-2 / 1e-2 (poles at
  :math:`z = \pm i\pi/20`). Symmetric kinks at 0 can hide this (``E[relu(z)^2]`` is exact by
  symmetry of the nodes). It is kept for fast, low-accuracy grids (the correlation map in the
  phase diagram).
* :class:`Composite` (the default) - composite Gauss-Legendre (12 points per panel) on
  :math:`|z| \le 9` (the tail mass beyond is :math:`2\cdot 10^{-19}`), with panel edges at
  (a) a uniform grid in :math:`z` (step 2: resolves the Gaussian weight), (b) a uniform grid in
  :math:`x = \sqrt{q} z` over :math:`|x| \le 12` (step 1: resolves the activation's own
  features, the onset of saturation, the bend of gelu), (c) a geometric grid
  :math:`|x| = 12 \cdot 2^j` beyond (algebraic tails: softsign) and (d) every kink :math:`k` of
  the activation, mapped to :math:`z = k/\sqrt{q}`. Each panel is then smooth, so
  Gauss-Legendre converges geometrically on it: about 1e-14 relative for any :math:`q` in
  :math:`[0, 10^{12}]`, tested against closed forms (relu, erf) and a 2-million-point
  trapezoid rule in ``tests/test_theory.py``; on every catalog entry it agrees with a rule 8x
  finer in every respect to 1e-12 in 1-D and 1e-15 in 2-D (softplus: 5e-11; its ``threshold``
  switch is a 2e-9 jump at x = 20).
  Kinks are taken from the catalog (:attr:`actlab.Properties.kinks`): built-in kinks are exact;
  for user-registered activations they are measured to 3 decimals, which bounds the error by
  about the jump in :math:`f'` times (5e-4)^2. Multiples of 0.25 (0, +-1, +-3, 6, ...) are panel edges anyway.

In 2-D the expectation is iterated: :math:`u_2 = c u_1 + \sqrt{1 - c^2}\sqrt{q}\,z_2` given
:math:`u_1`, and the inner integral over :math:`z_2` gets its own panel edges (the kinks of
:math:`g` shifted by :math:`c u_1`), so kinks along lines in the plane are resolved too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

Fn = Callable[[Tensor], Tensor]
DTYPE = torch.float64
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)

#: Elements (nodes x rows) evaluated at once in 2-D expectations; bounds memory (~8 bytes each,
#: a handful of temporaries).
CHUNK_ELEMENTS = 6_000_000


@lru_cache(maxsize=32)
def _legendre(order: int) -> tuple[Tensor, Tensor]:
    t, w = np.polynomial.legendre.leggauss(order)
    return torch.tensor(t, dtype=DTYPE), torch.tensor(w, dtype=DTYPE)


@lru_cache(maxsize=32)
def _hermite(n: int) -> tuple[Tensor, Tensor]:
    z, w = np.polynomial.hermite_e.hermegauss(n)
    return torch.tensor(z, dtype=DTYPE), torch.tensor(w / math.sqrt(2.0 * math.pi), dtype=DTYPE)


@dataclass(frozen=True)
class Composite:
    """Composite Gauss-Legendre rule with panel edges at kinks (see the module docstring).

    Args:
        order: Gauss-Legendre points per panel.
        z_panel: panel width in z (the Gaussian's own scale is 1).
        x_panel: panel width in x = mean + scale * z over ``|x| <= x_span``.
        x_span: the region of x where activations have features (kinks, saturation onset).
        half_width: integrate over ``|z| <= half_width``.
        x_growth: beyond ``x_span``, panel edges at ``x_span * x_growth^j`` (resolves algebraic
            tails such as softsign's ``1/(1 + |x|)``, which vary on the scale of ``|x|`` itself).
    """

    order: int = 12
    z_panel: float = 2.0
    x_panel: float = 1.0
    x_span: float = 12.0
    half_width: float = 9.0
    x_growth: float = 2.0

    def __post_init__(self) -> None:
        if not self.x_growth > 1:
            raise ValueError(f"Composite: x_growth={self.x_growth!r} is invalid; valid: > 1")
        for name in ("z_panel", "x_panel", "x_span", "half_width"):
            if not getattr(self, name) > 0:
                raise ValueError(f"Composite: {name}={getattr(self, name)!r} is invalid; valid: > 0")
        if self.order < 1:
            raise ValueError(f"Composite: order={self.order!r} is invalid; valid: an integer >= 1")

    def nodes(self, mean: Tensor, scale: Tensor, kinks: Sequence[float] = (),
              extra: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Nodes z and weights w (each ``(*batch, N)``) with ``sum(w * f(mean + scale * z))``
        approximating ``E[f(mean + scale * z)]``, z ~ N(0, 1); ``mean`` and ``scale`` broadcast to
        ``batch``. ``extra``: more panel edges in x, per row (``(*batch, K)``)."""
        mean, scale = torch.broadcast_tensors(torch.as_tensor(mean, dtype=DTYPE),
                                              torch.as_tensor(scale, dtype=DTYPE))
        L = self.half_width
        nz = max(1, round(2 * L / self.z_panel))
        zgrid = torch.linspace(-L, L, nz + 1, dtype=DTYPE)
        nx = max(1, round(self.x_span / self.x_panel))
        xs = torch.arange(-nx, nx + 1, dtype=DTYPE) * self.x_panel
        reach = float((mean.abs() + L * scale).max()) if mean.numel() else 0.0
        if reach > self.x_span:
            j = math.ceil(math.log(reach / self.x_span) / math.log(self.x_growth))
            g = self.x_span * self.x_growth ** torch.arange(1, j + 1, dtype=DTYPE)
            xs = torch.cat([xs, g, -g])
        if kinks:
            xs = torch.cat([xs, torch.tensor([float(k) for k in kinks], dtype=DTYPE)])
        safe = scale.clamp_min(1e-300)[..., None]
        # x-features in z coordinates; far ones clamp onto the ends (zero-width panels, weight 0).
        xs = xs.expand(*mean.shape, -1)
        if extra is not None:
            xs = torch.cat([xs, extra.expand(*mean.shape, -1)], dim=-1)
        zx = ((xs - mean[..., None]) / safe).clamp(-L, L)
        edges = torch.cat([zgrid.expand(*mean.shape, -1), zx], dim=-1).sort(dim=-1).values
        a, b = edges[..., :-1], edges[..., 1:]
        t, w = _legendre(self.order)
        half = (0.5 * (b - a))[..., None]
        z = (0.5 * (a + b))[..., None] + half * t
        wz = half * w * torch.exp(-0.5 * z * z) * _INV_SQRT_2PI
        return z.flatten(-2), wz.flatten(-2)


@dataclass(frozen=True)
class Hermite:
    """Gauss-Hermite rule with ``n`` nodes (per dimension); ignores kinks (see module docstring).
    numpy's node computation overflows beyond n = 300."""

    n: int = 64

    def __post_init__(self) -> None:
        if not 1 <= self.n <= 300:
            raise ValueError(f"Hermite: n={self.n!r} is invalid; valid: an integer in [1, 300]")

    def nodes(self, mean: Tensor, scale: Tensor, kinks: Sequence[float] = (),
              extra: Tensor | None = None) -> tuple[Tensor, Tensor]:
        mean, _ = torch.broadcast_tensors(torch.as_tensor(mean, dtype=DTYPE),
                                          torch.as_tensor(scale, dtype=DTYPE))
        z, w = _hermite(self.n)
        return z.expand(*mean.shape, -1), w.expand(*mean.shape, -1)


Rule = Composite | Hermite
DEFAULT_RULE = Composite()


def _t(v: Tensor | float) -> Tensor:
    return torch.as_tensor(v, dtype=DTYPE)


def expect(f: Fn, q: Tensor | float, kinks: Sequence[float] = (), rule: Rule = DEFAULT_RULE,
           mean: Tensor | float = 0.0) -> Tensor:
    r""":math:`E[f(m + \sqrt{q}\,z)]`, z ~ N(0, 1), elementwise over the broadcast shape of
    ``q`` and ``mean``. ``q = 0`` gives ``f(m)``."""
    q, m = torch.broadcast_tensors(_t(q), _t(mean))
    if not ((q >= 0) & torch.isfinite(q)).all():
        raise ValueError("expect: q (a variance) must be finite and >= 0")
    s = q.sqrt()
    z, w = rule.nodes(m, s, kinks)
    x = m[..., None] + s[..., None] * z
    return (w * f(x)).sum(-1)


def expect2(f: Fn | Sequence[Fn], g: Fn | Sequence[Fn], q: Tensor | float, c: Tensor | float,
            kinks_f: Sequence[float] = (), kinks_g: Sequence[float] = (),
            rule: Rule = DEFAULT_RULE) -> Tensor:
    r""":math:`E[f(u_1)\,g(u_2)]` for :math:`(u_1, u_2)` jointly Gaussian, mean 0, variances
    ``q``, correlation ``c`` in [-1, 1]; elementwise over the broadcast shape of ``q`` and ``c``.
    ``f`` and ``g`` may be equal-length lists of functions: then the result has a leading
    dimension, one entry per pair, computed on shared nodes (kinks: the union over each list).

    Iterated: :math:`u_1 = \sqrt{q} z_1`, :math:`u_2 = c u_1 + \sqrt{q(1 - c^2)}\,z_2`; the inner
    integral over :math:`z_2` is a 1-D rule with ``g``'s kinks shifted by :math:`c u_1`. As a
    function of :math:`u_1` the inner integral is ``g``'s kink smoothed over the width
    :math:`\sigma_2 = \sqrt{q(1 - c^2)}`, which for c near 1 is a steep step: the outer rule gets
    edges at :math:`u_1 = (k + t\sigma_2)/c`, t = -8..8, around each kink k of ``g``."""
    many = isinstance(f, (list, tuple))
    fs = list(f) if many else [f]
    gs = list(g) if isinstance(g, (list, tuple)) else [g]
    if len(fs) != len(gs):
        raise ValueError(f"expect2: {len(fs)} functions f but {len(gs)} functions g; need as many")
    q, c = torch.broadcast_tensors(_t(q), _t(c))
    if not ((q >= 0) & torch.isfinite(q)).all() or not (c.abs() <= 1).all():
        raise ValueError("expect2: need finite q >= 0 and -1 <= c <= 1")
    shape = q.shape
    q, c = q.reshape(-1), c.reshape(-1)
    s = q.sqrt()
    r = (1.0 - c * c).clamp_min(0.0).sqrt()
    extra = None
    if kinks_g:
        kg = torch.tensor([float(k) for k in kinks_g], dtype=DTYPE)
        t = torch.arange(-8.0, 9.0, dtype=DTYPE)
        sc = c.abs().clamp_min(1e-300)[:, None, None]
        extra = ((kg[:, None] + (s * r)[:, None, None] * t) / sc).flatten(-2) * c.sign()[:, None]
    z1, w1 = rule.nodes(torch.zeros_like(s), s, kinks_f, extra)  # (B, N1)
    n1 = z1.shape[-1]
    probe, _ = rule.nodes(torch.zeros(()), torch.ones(()), kinks_g)
    step = max(1, CHUNK_ELEMENTS // (n1 * probe.shape[-1]))
    out = []
    for i in range(0, q.numel(), step):
        sl = slice(i, i + step)
        u1 = s[sl, None] * z1[sl]  # (b, N1)
        m2 = c[sl, None] * u1
        s2 = (s[sl] * r[sl])[:, None].expand_as(m2)
        z2, w2 = rule.nodes(m2, s2, kinks_g)  # (b, N1, N2)
        u2 = m2[..., None] + s2[..., None] * z2
        del z2
        vals = []
        for fk, gk in zip(fs, gs):
            inner = (w2 * gk(u2)).sum(-1)
            vals.append((w1[sl] * fk(u1) * inner).sum(-1))
        out.append(torch.stack(vals))
    res = torch.cat(out, dim=-1) if out else torch.zeros((len(fs), 0), dtype=DTYPE)
    res = res.reshape(len(fs), *shape)
    return res if many else res[0]
