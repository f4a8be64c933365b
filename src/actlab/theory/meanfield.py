r"""Mean-field signal propagation in deep random networks: will this activation, at this init, train?

A fully connected net with weights :math:`W_{ij} \sim N(0, \sigma_w^2/N)` and biases
:math:`b_i \sim N(0, \sigma_b^2)` propagates, in the wide limit, the pre-activation variance
:math:`q^l` and the correlation :math:`c^l` between two inputs by deterministic maps
(Poole et al. 2016, "Exponential expressivity in deep neural networks through transient chaos";
Schoenholz et al. 2017, "Deep information propagation"):

.. math::
    q^{l+1} = \sigma_w^2\,E_z[\phi(\sqrt{q^l} z)^2] + \sigma_b^2 \qquad\text{(length map)}

    c^{l+1} = \frac{\sigma_w^2\,E[\phi(u_1)\phi(u_2)] + \sigma_b^2}{q^*},\quad
    u_1 = \sqrt{q^*} z_1,\ u_2 = \sqrt{q^*}(c^l z_1 + \sqrt{1 - (c^l)^2} z_2)
    \qquad\text{(correlation map)}

From its fixed points :math:`q^*` and :math:`c^*`:

* :math:`\chi_1 = \sigma_w^2 E[\phi'(\sqrt{q^*} z)^2]`, the slope of the correlation map at
  :math:`c = 1` and the factor by which the squared gradient norm grows per layer going back
  (:math:`E\|\delta^l\|^2 = \chi_1 E\|\delta^{l+1}\|^2`). :math:`\chi_1 < 1`: ordered phase,
  vanishing gradients, all inputs collapse to :math:`c^* = 1`; :math:`\chi_1 > 1`: chaotic phase,
  exploding gradients, :math:`c^* < 1`; :math:`\chi_1 = 1`: the critical line (edge of chaos).
* depth scales :math:`|q^l - q^*| \sim e^{-l/\xi_q}`, :math:`|c^l - c^*| \sim e^{-l/\xi_c}`:
  :math:`\xi_q^{-1} = -\log(\sigma_w^2\,dV/dq|_{q^*})` with :math:`V(q) = E[\phi(\sqrt q z)^2]`,
  which by Stein's lemma equals Schoenholz et al.'s
  :math:`-\log[\chi_1 + \sigma_w^2 E(\phi''(\sqrt{q^*}z)\phi(\sqrt{q^*}z))]`; we use
  :math:`dV/dq = E[\phi(\sqrt q z)\phi'(\sqrt q z) z]/\sqrt q`, which needs no :math:`\phi''` (kinks).
  :math:`\xi_c^{-1} = -\log \chi_c`, :math:`\chi_c = \sigma_w^2 E[\phi'(u_1)\phi'(u_2)]` at
  :math:`c^*` (:math:`= \chi_1` in the ordered phase); :math:`\xi_c` diverges on the critical line.
* trainable depth: Schoenholz et al. found networks train (SGD, MNIST/CIFAR-10) up to
  :math:`L \approx 6\xi_c`; :func:`max_trainable_depth` returns :math:`6\xi_c`.

Degenerate cases, handled explicitly:

* *Unbounded q*: for activations growing linearly (relu, elu, gelu, softplus, ...) the length map
  has no finite fixed point when :math:`\sigma_w^2` is large (relu: :math:`\sigma_w^2 > 2`):
  :math:`q^l` grows geometrically. Then ``q_star = inf``, ``phase = "unbounded"``, :math:`\chi_1` is
  its :math:`q \to \infty` limit (:math:`\sigma_w^2/2` for relu), :math:`\xi_c` and :math:`\xi_q`
  are undefined (NaN), and the trainable depth is :math:`6\xi_\nabla` with the gradient depth scale
  :math:`\xi_\nabla = 1/|\log\chi_1|` (there, gradients and signal explode; the correlation map of
  a positively homogeneous activation is then marginal and says nothing). A fixed point above
  ``Q_MAX = 1e10`` counts as unbounded.
* *q* = 0*: with :math:`\sigma_b^2 = 0` and :math:`\phi(0) = 0` (tanh, relu, ...) below criticality
  the signal dies out; ``q_star = 0`` and :math:`\chi_1 = \sigma_w^2\phi'(0)^2` (the limit
  q -> 0+: relu gives :math:`\sigma_w^2/2`). There :math:`c^* = 1`, :math:`\chi_c` and
  :math:`\xi_c` are the limits as :math:`\sigma_b^2 \to 0^+`, not the dynamics at exactly
  :math:`\sigma_b^2 = 0`: with no bias the two inputs' correlation then stays put (tanh) or
  approaches 1 only algebraically (relu), and "6 xi_c" understates how long correlations survive.
  Capped units (hard_tanh, relu6) approach q* = 0 exponentially slowly; their critical point at
  :math:`\sigma_b^2 = 0` is the q -> 0 limit :math:`1/\phi'(0)^2`.
* *Which fixed point*: :math:`q^*` is the limit of the iteration started at ``q0`` (default 1,
  unit-variance pre-activations), i.e. the first root of :math:`q \mapsto \sigma_w^2 V(q) +
  \sigma_b^2 - q` met when walking from ``q0`` in the direction the iteration moves (the map is
  increasing, so the iteration is monotone). Found on a log-spaced table of :math:`V` (ratio
  1.06, :math:`10^{-12}` to :math:`10^{10}`), then refined by the Illinois method to ~1e-14.
* :math:`c^*` in the chaotic phase: the correlation map is a power series in :math:`c` with
  non-negative coefficients (Mehler expansion), so :math:`c \mapsto C(c) - c` is convex on
  [0, 1]; Newton's method from :math:`c = 0` then converges monotonically to the unique root
  below 1, using :math:`C'(c) = \chi_c(c)` (Price's theorem).

Stochastic activations are analysed in their deterministic eval form (rrelu: the mean slope;
noisy units: the noise-free function); learnable ones at their current value (at init for a name).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from actlab.theory.gauss import (
    DEFAULT_RULE,
    DTYPE,
    Composite,
    Fn,
    Hermite,
    Rule,
    expect,
    expect2,
)

#: Fixed points of the length map above this count as unbounded.
Q_MAX = 1e10
Q_MIN = 1e-12
#: |chi_1 - 1| below this is reported as the critical phase.
CRITICAL_TOL = 1e-9
#: Schoenholz et al. 2017: networks are trainable up to about 6 xi_c layers.
TRAINABLE_DEPTH_FACTOR = 6.0

PHASES = ("ordered", "critical", "chaotic", "unbounded")


# ---------------------------------------------------------------------------------------------
# the activation
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Phi:
    """An elementwise activation as theory sees it: f, its closed-form derivative, and ``kinks``:
    the points where f or f' is not smooth (quadrature panel edges)."""

    name: str
    params: Mapping[str, Any]
    f: Fn = field(repr=False)
    df: Fn = field(repr=False)
    kinks: tuple[float, ...] = ()

    @property
    def label(self) -> str:
        p = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.params.items())
        return f"{self.name}({p})" if p else self.name


def activation(act: Any, **params: Any) -> Phi:
    """Resolve ``act`` - a catalog name or alias, a config dict, a catalog module (learned
    parameters included) or a ``torch.nn`` activation module - to a :class:`Phi`.

    Raises ValueError for activations that mix features (softmax, maxout): mean-field theory here
    is for elementwise activations."""
    if isinstance(act, Phi):
        if params:
            raise ValueError("activation: parameters cannot be given with a resolved Phi")
        return act
    from actlab.catalog import get
    from actlab.catalog.modules import Activation

    if isinstance(act, (str, Mapping)):
        module = get(act, **params)
    elif isinstance(act, nn.Module):
        if params:
            raise ValueError("activation: parameters cannot be given with a module; "
                             "configure the module instead")
        module = act
        if not isinstance(module, Activation):
            from actlab.catalog.torch_map import from_torch

            config = from_torch(module)
            if config is None:
                raise ValueError(f"theory: {type(module).__name__} is not an activation actlab "
                                 "knows; valid: a catalog name, config, catalog module or torch.nn "
                                 "activation module")
            module = get(config)
            if isinstance(act, nn.PReLU):  # the learned slopes, not the initial ones
                module.load_state_dict(act.state_dict())
    else:
        raise TypeError(f"theory: expected an activation name, config dict or module, got "
                        f"{type(act).__name__}")
    props = module.spec.properties(**module.params)
    if not props.elementwise:
        raise ValueError(f"theory: {module.spec.name} mixes features (not elementwise); mean-field "
                         "theory here covers elementwise activations")
    module = copy.deepcopy(module).eval()  # eval: stochastic units use their deterministic form
    if getattr(module, "inplace", False):  # the quadrature reuses its nodes: never overwrite them
        module.set_inplace(False)
    weight = getattr(module, "weight", None)
    if module.spec.name == "prelu" and weight is not None:  # its params then name the learned slope
        w = weight.detach()
        if not bool((w == w.flatten()[0]).all()):
            raise ValueError("theory: this prelu has a different slope per channel; mean-field theory "
                             "needs one activation (use num_parameters=1)")
        module = get("prelu", init=float(w.flatten()[0]))

    def f(x: Tensor) -> Tensor:
        with torch.no_grad():
            return module(x)

    def df(x: Tensor) -> Tensor:
        with torch.no_grad():
            return module.derivative(x)

    # Panel edges for quadrature: the kinks, and 0 for C^1-but-not-smooth entries (softsign, elu
    # with alpha=1, celu: f'' jumps at 0), whose f' has a kink that the 2-D rule must see.
    breaks = {float(k) for k in props.kinks}
    if props.smoothness != math.inf:
        breaks.add(0.0)
    return Phi(module.spec.name, dict(module.params), f, df, tuple(sorted(breaks)))


# ---------------------------------------------------------------------------------------------
# the engine
# ---------------------------------------------------------------------------------------------
def _t(v: Any) -> Tensor:
    return torch.as_tensor(v, dtype=DTYPE)


def _illinois(fun: Callable[[Tensor, Tensor], Tensor], a: Tensor, b: Tensor, fa: Tensor, fb: Tensor,
              rtol: float = 1e-14, atol: float = 1e-300, maxiter: int = 100) -> Tensor:
    """Roots of ``fun(x, idx)`` (vectorised; ``idx`` indexes the rows) bracketed by [a, b]
    (``fa``, ``fb`` of opposite signs or zero), by the Illinois variant of regula falsi."""
    a, b, fa, fb = a.clone(), b.clone(), fa.clone(), fb.clone()
    x = torch.where(fa == 0, a, b)
    active = (fa != 0) & (fb != 0)
    for _ in range(maxiter):
        idx = torch.nonzero(active).flatten()
        if idx.numel() == 0:
            break
        ai, bi, fai, fbi = a[idx], b[idx], fa[idx], fb[idx]
        xi = (ai * fbi - bi * fai) / (fbi - fai)
        lo, hi = torch.minimum(ai, bi), torch.maximum(ai, bi)
        bad = ~((xi > lo) & (xi < hi))
        xi = torch.where(bad, 0.5 * (ai + bi), xi)
        fxi = fun(xi, idx)
        flip = fxi * fbi < 0
        a[idx] = torch.where(flip, bi, ai)
        fa[idx] = torch.where(flip, fbi, 0.5 * fai)
        b[idx], fb[idx] = xi, fxi
        x[idx] = xi
        done = (fxi == 0) | ((a[idx] - b[idx]).abs() <= rtol * torch.maximum(a[idx].abs(), b[idx].abs())
                             + atol)
        active[idx[done]] = False
    return x


class MeanField:
    """Mean-field maps of one activation, vectorised over tensors of (sigma_w^2, sigma_b^2).

    Args:
        act: anything :func:`activation` accepts.
        rule: quadrature rule for 1-D expectations (default: kink-aware composite, ~1e-14).
        rule2: rule for the 2-D expectations of the correlation map (default: ``rule``;
            :class:`~actlab.theory.gauss.Hermite` is much faster on large grids, less accurate).
    """

    def __init__(self, act: Any, rule: Rule = DEFAULT_RULE, rule2: Rule | None = None,
                 **params: Any) -> None:
        self.phi = activation(act, **params)
        self.rule = rule
        self.rule2 = rule if rule2 is None else rule2
        f, df = self.phi.f, self.phi.df
        self._f2: Fn = lambda x: f(x) ** 2
        self._df2: Fn = lambda x: df(x) ** 2
        self._table: tuple[Tensor, Tensor] | None = None

    # -- 1-D expectations --------------------------------------------------------------------
    def V(self, q: Tensor | float) -> Tensor:
        r""":math:`V(q) = E[\phi(\sqrt q z)^2]`."""
        return expect(self._f2, q, self.phi.kinks, self.rule)

    def dV(self, q: Tensor | float) -> Tensor:
        r""":math:`dV/dq = E[\phi(\sqrt q z)\phi'(\sqrt q z) z] / \sqrt q` (Stein's lemma), at
        :math:`q \ge 10^{-12}` (its limit as q -> 0 differs by O(q))."""
        q = _t(q).clamp_min(Q_MIN)
        f, df = self.phi.f, self.phi.df
        return expect(lambda x: f(x) * df(x) * x, q, self.phi.kinks, self.rule) / q

    def mean_df2(self, q: Tensor | float) -> Tensor:
        r""":math:`E[\phi'(\sqrt q z)^2]`; ``q = inf`` gives the limit as q -> infinity and q = 0 the
        limit q -> 0+ (relu: 1/2, not relu'(0)^2 = 0)."""
        q = _t(q)
        q = torch.where(torch.isinf(q), torch.full_like(q, 1e24), q).clamp_min(1e-100)
        return expect(self._df2, q, self.phi.kinks, self.rule)

    def length_map(self, q: Tensor | float, sigma_w2: Tensor | float, sigma_b2: Tensor | float) -> Tensor:
        r""":math:`q \mapsto \sigma_w^2 V(q) + \sigma_b^2`."""
        return _t(sigma_w2) * self.V(q) + _t(sigma_b2)

    # -- the length map's fixed point --------------------------------------------------------
    def _q_table(self) -> tuple[Tensor, Tensor]:
        if self._table is None:
            n = math.ceil(math.log(Q_MAX / Q_MIN) / math.log(1.06))
            qs = torch.cat([torch.zeros(1, dtype=DTYPE),
                            torch.logspace(math.log10(Q_MIN), math.log10(Q_MAX), n + 1, dtype=DTYPE)])
            self._table = (qs, self.V(qs))
        return self._table

    def q_star(self, sigma_w2: Tensor | float, sigma_b2: Tensor | float, q0: Tensor | float = 1.0) -> Tensor:
        """The fixed point reached by iterating the length map from ``q0`` (``inf`` when q grows
        without bound; see the module docstring)."""
        sw, sb, q0 = torch.broadcast_tensors(_t(sigma_w2), _t(sigma_b2), _t(q0))
        if not ((sw >= 0) & (sb >= 0) & torch.isfinite(sw) & torch.isfinite(sb)).all():
            raise ValueError("theory: sigma_w2 and sigma_b2 are variances; valid: finite numbers >= 0")
        if not (q0 > 0).all():
            raise ValueError("theory: q0 (the input pre-activation variance) must be > 0")
        shape = sw.shape
        sw, sb, q0 = sw.reshape(-1), sb.reshape(-1), q0.reshape(-1)
        qs, vs = self._q_table()
        # G = F(q) - q, with values within rounding of 0 set to 0: relu at sigma_w^2 = 2,
        # sigma_b^2 = 0 has F(q) = q for every q, and rounding must not pick a spurious root.
        G = sw[:, None] * vs + sb[:, None] - qs  # (B, T)
        G = torch.where(G.abs() <= 1e-13 * (qs + sb[:, None]), 0.0, G)
        g0 = sw * self.V(q0) + sb - q0
        g0 = torch.where(g0.abs() <= 1e-13 * (q0 + sb), 0.0, g0)
        T = qs.numel()
        ar = torch.arange(T)
        out = q0.clone()
        lo, hi, glo, ghi = q0.clone(), q0.clone(), g0.clone(), g0.clone()
        # upward: the first table point above q0 where G <= 0
        up = g0 > 0
        cand = (qs > q0[:, None]) & (G <= 0)
        first = torch.where(cand, ar, T).min(dim=1).values
        unbounded = up & (first == T)
        out[unbounded] = math.inf
        sel = up & ~unbounded
        if sel.any():
            i = first[sel]
            prev = (i - 1).clamp_min(0)
            use_prev = qs[prev] > q0[sel]
            lo[sel] = torch.where(use_prev, qs[prev], q0[sel])
            glo[sel] = torch.where(use_prev, G[sel, prev], g0[sel])
            hi[sel], ghi[sel] = qs[i], G[sel, i]
        # downward: the last table point below q0 where G >= 0 (G(0) >= 0 always)
        down = g0 < 0
        cand = (qs < q0[:, None]) & (G >= 0)
        last = torch.where(cand, ar, -1).max(dim=1).values
        seld = down & (last >= 0)
        if seld.any():
            i = last[seld]
            nxt = (i + 1).clamp_max(T - 1)
            use_next = qs[nxt] < q0[seld]
            lo[seld], glo[seld] = qs[i], G[seld, i]
            hi[seld] = torch.where(use_next, qs[nxt], q0[seld])
            ghi[seld] = torch.where(use_next, G[seld, nxt], g0[seld])
        refine = (sel | seld)
        if refine.any():
            idx = torch.nonzero(refine).flatten()
            sw_r, sb_r = sw[idx], sb[idx]

            def fun(x: Tensor, j: Tensor) -> Tensor:
                return sw_r[j] * self.V(x) + sb_r[j] - x

            out[idx] = _illinois(fun, lo[idx], hi[idx], glo[idx], ghi[idx])
        return out.reshape(shape)

    # -- chi_1, depth scales -----------------------------------------------------------------
    def chi1(self, sigma_w2: Tensor | float, q: Tensor | float) -> Tensor:
        r""":math:`\chi_1 = \sigma_w^2 E[\phi'(\sqrt q z)^2]` at the given q (inf: the limit)."""
        return _t(sigma_w2) * self.mean_df2(q)

    def correlation_map(self, c: Tensor | float, q: Tensor | float, sigma_w2: Tensor | float,
                        sigma_b2: Tensor | float) -> Tensor:
        r""":math:`c \mapsto (\sigma_w^2 E[\phi(u_1)\phi(u_2)] + \sigma_b^2) / q` with both variances
        at the fixed point ``q`` (q > 0)."""
        f = self.phi.f
        k = self.phi.kinks
        e = expect2(f, f, q, c, k, k, self.rule2)
        return (_t(sigma_w2) * e + _t(sigma_b2)) / _t(q)

    def _c_eval(self, q: Tensor, sw: Tensor, sb: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        r"""``(C(c) - c, chi_c(c))``, :math:`\chi_c(c) = C'(c) = \sigma_w^2 E[\phi'(u_1)\phi'(u_2)]`
        (Price's theorem)."""
        f, df, k = self.phi.f, self.phi.df, self.phi.kinks
        ff, dd = expect2([f, df], [f, df], q, c, k, k, self.rule2)
        return (sw * ff + sb) / q - c, sw * dd

    def c_star(self, q: Tensor, sigma_w2: Tensor, sigma_b2: Tensor, tol: float = 1e-13,
               maxiter: int = 60) -> tuple[Tensor, Tensor]:
        """``(c*, chi_c)`` in the chaotic phase (``q`` finite, > 0, chi_1 > 1).

        G(c) = C(c) - c is convex on [0, 1] with G(0) >= 0: one Newton step from c = 0, then
        secant steps, approach the root from the left monotonically (for a convex function both
        stay left of the root). The secant steps need only G, so an inexact slope (Gauss-Hermite
        on a discontinuous phi') cannot slow convergence; an iterate that still lands right of the
        root (G < 0, from quadrature error) gives a bracket, finished by the Illinois method."""
        q, sw, sb = torch.broadcast_tensors(_t(q), _t(sigma_w2), _t(sigma_b2))
        shape = q.shape
        q, sw, sb = q.reshape(-1), sw.reshape(-1), sb.reshape(-1)
        B = q.numel()
        c_prev = torch.zeros(B, dtype=DTYPE)
        g_prev, chi_c = self._c_eval(q, sw, sb, c_prev)
        c_star = torch.where(g_prev <= 0, c_prev, math.nan)
        step = torch.where(chi_c < 1, g_prev / (1.0 - chi_c), 0.5)
        c_cur = (c_prev + step).clamp(max=1.0 - 1e-15)
        active = g_prev > 0
        bracket = torch.zeros(B, dtype=torch.bool)
        g_cur = torch.zeros(B, dtype=DTYPE)
        for _ in range(maxiter):
            idx = torch.nonzero(active).flatten()
            if idx.numel() == 0:
                break
            g, chi = self._c_eval(q[idx], sw[idx], sb[idx], c_cur[idx])
            g_cur[idx], chi_c[idx] = g, chi
            over = g < 0
            bracket[idx[over]] = True
            cp, gp, cc = c_prev[idx], g_prev[idx], c_cur[idx]
            nxt = cc - g * (cc - cp) / (g - gp)
            ok = torch.isfinite(nxt) & (nxt > cc) & (nxt < 1.0)
            nxt = torch.where(ok, nxt, cc)
            done = over | (g == 0) | ((nxt - cc).abs() <= tol) | ~ok
            finished = done & ~over
            c_star[idx[finished]] = cc[finished]
            keep = ~done
            j = idx[keep]
            c_prev[j], g_prev[j], c_cur[j] = cc[keep], g[keep], nxt[keep]
            active[idx[done]] = False
        still = active.clone()
        c_star[still] = c_cur[still]  # maxiter reached: the last iterate
        if bracket.any():
            j = torch.nonzero(bracket).flatten()
            qj, swj, sbj = q[j], sw[j], sb[j]

            def fun(x: Tensor, i: Tensor) -> Tensor:
                return self._c_eval(qj[i], swj[i], sbj[i], x)[0]

            root = _illinois(fun, c_prev[j], c_cur[j], g_prev[j], g_cur[j], rtol=tol, atol=tol)
            c_star[j] = root
            chi_c[j] = self._c_eval(qj, swj, sbj, root)[1]
        return c_star.reshape(shape), chi_c.reshape(shape)

    def evaluate(self, sigma_w2: Tensor | float, sigma_b2: Tensor | float,
                 q0: Tensor | float = 1.0, c_tol: float = 1e-13) -> dict[str, Tensor]:
        """Every mean-field quantity on the broadcast grid of (sigma_w2, sigma_b2): tensors
        ``q_star, chi1, c_star, chi_c, xi_q, xi_c, xi_grad, max_depth`` and ``phase`` (indices into
        :data:`PHASES`)."""
        sw, sb, q0 = torch.broadcast_tensors(_t(sigma_w2), _t(sigma_b2), _t(q0))
        shape = sw.shape
        sw, sb, q0 = sw.reshape(-1), sb.reshape(-1), q0.reshape(-1)
        qs = self.q_star(sw, sb, q0)
        chi1 = self.chi1(sw, qs)
        finite = torch.isfinite(qs)
        crit = (chi1 - 1).abs() <= CRITICAL_TOL
        phase = torch.where(chi1 < 1, 0, 2)
        phase = torch.where(crit, 1, phase)
        phase = torch.where(~finite & ~crit, 3, phase)
        c_star = torch.where(finite, 1.0, math.nan).to(DTYPE)
        chi_c = torch.where(finite, chi1, math.nan)
        chaos = (phase == 2) & (qs > 0)
        if chaos.any():
            cs, cc = self.c_star(qs[chaos], sw[chaos], sb[chaos], tol=c_tol)
            c_star[chaos], chi_c[chaos] = cs, cc
        nan = torch.full_like(qs, math.nan)
        xi_c = torch.where(chi_c < 1, -1.0 / torch.log(chi_c), math.inf)
        xi_c = torch.where(crit & finite, math.inf, torch.where(finite, xi_c, nan))
        slope_q = torch.where(finite, sw * self.dV(torch.where(finite, qs, 1.0)), nan)
        xi_q = torch.where(slope_q < 1 - CRITICAL_TOL, -1.0 / torch.log(slope_q), math.inf)
        xi_q = torch.where(finite, xi_q, nan)
        xi_grad = torch.where(crit, math.inf, 1.0 / torch.log(chi1).abs())
        depth = TRAINABLE_DEPTH_FACTOR * torch.where(finite, xi_c, xi_grad)
        out = {"q_star": qs, "chi1": chi1, "c_star": c_star, "chi_c": chi_c, "xi_q": xi_q,
               "xi_c": xi_c, "xi_grad": xi_grad, "max_depth": depth, "phase": phase}
        return {k: v.reshape(shape) for k, v in out.items()}


    # -- the critical line --------------------------------------------------------------------
    def _verify_critical(self, sw: Tensor, sb: Tensor, q0: float, q: Tensor | None) -> Tensor:
        qs = self.q_star(sw, sb, q0)
        ok = ((self.chi1(sw, qs) - 1).abs() <= 1e-7) & torch.isfinite(sw)
        if q is not None:
            same = (qs - q).abs() <= 1e-6 * q.abs().clamp_min(1e-9)
            ok &= same | (torch.isinf(qs) & torch.isinf(q))
        return ok

    def critical_line(self, sigma_b2: Tensor | float, q0: float = 1.0) -> Tensor:
        """See :func:`critical_line`."""
        sb = _t(sigma_b2)
        shape = sb.shape
        sb = sb.reshape(-1)
        if (sb < 0).any() or not torch.isfinite(sb).all():
            raise ValueError("theory: sigma_b2 is a variance; valid: a finite number >= 0")
        B = sb.numel()
        out = torch.full_like(sb, math.inf)
        # 1. finite q*: every crossing of sigma_b^2(q) = q - V(q)/E[phi'^2] through the target
        qs, vs = self._q_table()
        sw_t = 1.0 / self.mean_df2(qs)
        sb_t = qs - sw_t * vs
        good = torch.isfinite(sw_t) & torch.isfinite(sb_t)
        d = sb_t[None, :] - sb[:, None]  # (B, T)
        exact = (d == 0) & good
        cross = torch.zeros_like(exact)
        cross[:, 1:] = (d[:, :-1] * d[:, 1:] < 0) & good[:-1] & good[1:]
        rows_e, ts_e = torch.nonzero(exact, as_tuple=True)
        rows_c, ts_c = torch.nonzero(cross, as_tuple=True)
        q_cand = [qs[ts_e]]
        if rows_c.numel():
            target = sb[rows_c]

            def fun(x: Tensor, k: Tensor) -> Tensor:
                return x - self.V(x) / self.mean_df2(x) - target[k]

            q_cand.append(_illinois(fun, qs[ts_c - 1], qs[ts_c], d[rows_c, ts_c - 1], d[rows_c, ts_c]))
        rows = torch.cat([rows_e, rows_c])
        q_c = torch.cat(q_cand)
        if rows.numel():
            sw_c = 1.0 / self.mean_df2(q_c)
            ok = self._verify_critical(sw_c, sb[rows], q0, q_c)
            # q* = 0 (sigma_b^2 = 0, phi(0) = 0): q dies out whenever the length map lies below the
            # diagonal for every q > 0, however slowly (capped units like hard_tanh approach 0 at an
            # exponentially small rate, which iterating to a tolerance cannot confirm)
            zero = (q_c == 0) & ~ok & torch.isfinite(sw_c)
            if zero.any():
                g = sw_c[zero, None] * vs[None, 1:] + sb[rows[zero], None] - qs[None, 1:]
                below = g <= 1e-13 * qs[None, 1:]  # within rounding of the diagonal counts as on it
                ok[zero] = below.all(dim=1)
            cand = torch.where(ok, sw_c, math.inf)
            out = out.scatter_reduce(0, rows, cand, reduce="amin")
        # 2. critical at q* = infinity (q grows linearly: relu with sigma_b^2 > 0). Only where
        # E[phi'^2] has a non-zero limit as q -> infinity: for a capped unit (hard_tanh, relu6) it
        # decays like q^-1/2, and 1 / E[phi'^2](1e24) would be a huge, false critical point.
        far, farther = float(self.mean_df2(1e20)), float(self.mean_df2(math.inf))
        sw_inf = 1.0 / farther if farther > 0 and abs(far - farther) <= 1e-3 * farther else math.inf
        if math.isfinite(sw_inf):
            todo = torch.nonzero(out > sw_inf).flatten()
            if todo.numel():
                ok = self._verify_critical(torch.full((todo.numel(),), sw_inf, dtype=DTYPE), sb[todo],
                                           q0, None)
                out[todo[ok]] = sw_inf
        out = torch.where(torch.isinf(out), math.nan, out)
        return out.reshape(shape) if B else out


# ---------------------------------------------------------------------------------------------
# the user-facing functions
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MeanFieldResult:
    """Mean-field prediction for one activation at one (sigma_w^2, sigma_b^2).

    Attributes:
        q_star: fixed point of the length map (``inf``: grows without bound; 0: dies out).
        chi1: per-layer factor of the squared gradient norm going back one layer.
        c_star, chi_c: fixed point of the correlation map and the map's slope there.
        xi_q, xi_c: depth scales of the length and correlation maps (NaN when q is unbounded).
        xi_grad: gradient depth scale ``1/|log chi1|``.
        phase: ``ordered`` (vanishing gradients), ``critical``, ``chaotic`` (exploding gradients),
            ``unbounded`` (signal and gradients explode).
        gradient_ratio: predicted ``|grad h^{l+1}|^2 / |grad h^l|^2 = 1/chi1``.
        max_depth: trainable depth ``6 xi_c`` (``6 xi_grad`` when unbounded).
    """

    activation: str
    sigma_w2: float
    sigma_b2: float
    q0: float
    q_star: float
    chi1: float
    c_star: float
    chi_c: float
    xi_q: float
    xi_c: float
    xi_grad: float
    phase: str
    gradient_ratio: float
    max_depth: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def gradient_factor(self, depth: int) -> float:
        """Predicted ratio of the squared gradient norm at the input layer to that at the output
        of a ``depth``-layer net: ``chi1 ** depth``."""
        return self.chi1 ** depth

    def summary(self) -> str:
        return (f"{self.activation} at sigma_w^2={self.sigma_w2:g}, sigma_b^2={self.sigma_b2:g}: "
                f"{self.phase}; q*={self.q_star:.6g}, chi_1={self.chi1:.6g}, xi_c={self.xi_c:.4g}, "
                f"trainable to ~{self.max_depth:.4g} layers")


def _scalar(v: Tensor) -> float:
    return float(v.reshape(()))


def analyze(act: Any, sigma_w2: float, sigma_b2: float = 0.0, q0: float = 1.0,
            rule: Rule = DEFAULT_RULE, **params: Any) -> MeanFieldResult:
    """Every mean-field quantity for ``act`` at one initialisation (see the module docstring).

    >>> theory.analyze("tanh", 1.0, 0.05).xi_c   # Schoenholz et al. 2017, Fig. 1: ~3.6
    3.62...
    """
    for name, v in (("sigma_w2", sigma_w2), ("sigma_b2", sigma_b2), ("q0", q0)):
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
            raise ValueError(f"theory: {name}={v!r} is invalid; valid: a finite number")
    mf = MeanField(act, rule=rule, **params)
    r = mf.evaluate(float(sigma_w2), float(sigma_b2), float(q0))
    chi1 = _scalar(r["chi1"])
    return MeanFieldResult(
        activation=mf.phi.label, sigma_w2=float(sigma_w2), sigma_b2=float(sigma_b2), q0=float(q0),
        q_star=_scalar(r["q_star"]), chi1=chi1, c_star=_scalar(r["c_star"]),
        chi_c=_scalar(r["chi_c"]), xi_q=_scalar(r["xi_q"]), xi_c=_scalar(r["xi_c"]),
        xi_grad=_scalar(r["xi_grad"]), phase=PHASES[int(r["phase"])],
        gradient_ratio=1.0 / chi1 if chi1 > 0 else math.inf, max_depth=_scalar(r["max_depth"]))


def _out(v: Tensor, like: Any) -> Tensor | float:
    return v if isinstance(like, Tensor) else float(v)


def q_star(act: Any, sigma_w2: Tensor | float, sigma_b2: Tensor | float = 0.0,
           q0: Tensor | float = 1.0, **params: Any) -> Tensor | float:
    """Fixed point of the length map (float in, float out; tensors are broadcast)."""
    return _out(MeanField(act, **params).q_star(sigma_w2, sigma_b2, q0), sigma_w2)


def chi1(act: Any, sigma_w2: Tensor | float, sigma_b2: Tensor | float = 0.0,
         q0: Tensor | float = 1.0, **params: Any) -> Tensor | float:
    r""":math:`\chi_1 = \sigma_w^2 E[\phi'(\sqrt{q^*} z)^2]`: the per-layer factor of the squared
    gradient norm (going back one layer) at the fixed point q*."""
    mf = MeanField(act, **params)
    return _out(mf.chi1(sigma_w2, mf.q_star(sigma_w2, sigma_b2, q0)), sigma_w2)


def max_trainable_depth(act: Any, sigma_w2: Tensor | float, sigma_b2: Tensor | float = 0.0,
                        q0: Tensor | float = 1.0, **params: Any) -> Tensor | float:
    """About how many layers a net with this activation and init can still be trained:
    ``6 xi_c`` (Schoenholz et al. 2017; ``6 xi_grad`` where q is unbounded; ``inf`` on the
    critical line)."""
    return _out(MeanField(act, **params).evaluate(sigma_w2, sigma_b2, q0)["max_depth"], sigma_w2)


def depth_scales(act: Any, sigma_w2: float, sigma_b2: float = 0.0, q0: float = 1.0,
                 **params: Any) -> dict[str, float]:
    """``{"xi_q": ..., "xi_c": ..., "xi_grad": ...}`` at one initialisation."""
    r = analyze(act, sigma_w2, sigma_b2, q0, **params)
    return {"xi_q": r.xi_q, "xi_c": r.xi_c, "xi_grad": r.xi_grad}


@dataclass(frozen=True)
class LayerPrediction:
    """Mean-field prediction for one activation layer of a real network (see :func:`layer_chi1`)."""

    activation: str
    sigma_w2: float
    sigma_b2: float
    q: float
    chi1: float
    phase: str

    @property
    def gradient_ratio(self) -> float:
        """Predicted ``|grad after|^2 / |grad before|^2`` across this layer: ``1/chi1``."""
        return 1.0 / self.chi1 if self.chi1 > 0 else math.inf


def layer_chi1(act: Any, weight: Tensor, bias: Tensor | None = None, q: float | None = None,
               **params: Any) -> LayerPrediction:
    r""":math:`\chi_1` of one activation layer at the *current* weight scale, for a monitor
    (actlab.watch) to print next to the measured per-layer gradient ratio.

    ``weight``: the weights the backward signal crosses on its way to this activation (the layer
    *after* it; any shape with fan-in ``weight[0].numel()``, so conv kernels work too):
    :math:`\sigma_w^2 = 	ext{fan-in}\cdot E[W^2]`, :math:`\sigma_b^2 = E[b^2]`. ``q``: the measured
    mean squared pre-activation entering the activation; default: the fixed point q* of a deep
    stack at this scale. Returns :math:`\chi_1 = \sigma_w^2 E[\phi'(\sqrt q z)^2]`; with equal
    widths :math:`E\|\delta^l\|^2 = \chi_1 E\|\delta^{l+1}\|^2` (Schoenholz et al. 2017)."""
    w = weight.detach().to(DTYPE)
    if w.dim() < 2 or w.numel() == 0:
        raise ValueError(f"layer_chi1: weight of shape {tuple(w.shape)} is invalid; valid: a matrix "
                         "(out, in) or a conv kernel (out, in, ...)")
    sw = float(w[0].numel() * w.pow(2).mean())
    sb = 0.0 if bias is None else float(bias.detach().to(DTYPE).pow(2).mean())
    mf = MeanField(act, **params)
    qv = float(mf.q_star(sw, sb)) if q is None else float(q)
    if not (qv >= 0):
        raise ValueError(f"layer_chi1: q={q!r} is invalid; valid: a variance >= 0")
    c = float(mf.chi1(sw, qv))
    if abs(c - 1) <= CRITICAL_TOL:
        phase = "critical"
    elif math.isinf(qv):
        phase = "unbounded" if c > 1 else "critical"
    else:
        phase = "ordered" if c < 1 else "chaotic"
    return LayerPrediction(mf.phi.label, sw, sb, qv, c, phase)


# ---------------------------------------------------------------------------------------------
# the critical line and critical initialisation
# ---------------------------------------------------------------------------------------------
def critical_line(act: Any, sigma_b2: Tensor | float = 0.0, q0: float = 1.0,
                  **params: Any) -> Tensor | float:
    r"""The critical :math:`\sigma_w^2` (where :math:`\chi_1 = 1`) for each :math:`\sigma_b^2`
    (float in, float out; NaN where there is none).

    On the critical line with a finite fixed point :math:`q^*` (Pennington et al. 2017):
    :math:`\sigma_w^2 = 1/E[\phi'(\sqrt{q^*}z)^2]` and :math:`\sigma_b^2 = q^* - \sigma_w^2 V(q^*)`,
    so every critical point is a root in :math:`q^*` of the second equation: all roots on the
    q-table are refined (Illinois), each is kept only if the length map iterated from ``q0``
    reaches that :math:`q^*` with :math:`\chi_1 = 1`, and the smallest :math:`\sigma_w^2` wins.
    The critical point at :math:`q^* = \infty` (relu with :math:`\sigma_b^2 > 0`:
    :math:`\sigma_w^2 = 2`, q grows linearly) is tried too. Where :math:`\chi_1` only *jumps*
    over 1 (gelu at :math:`\sigma_b^2 = 0`: q* jumps from 0 to infinity as :math:`\sigma_w^2` passes
    2.35) there is no critical point: NaN.

    >>> theory.critical_line("tanh", 0.05)   # Schoenholz et al. 2017, Fig. 1
    1.76...
    """
    mf = MeanField(act, **params)
    return _out(mf.critical_line(sigma_b2, q0), sigma_b2)


def critical_sigma_w2(act: Any, sigma_b2: float = 0.0, **params: Any) -> float:
    """The critical sigma_w^2 at one sigma_b^2 (see :func:`critical_line`)."""
    return float(critical_line(act, float(sigma_b2), **params))


@dataclass(frozen=True)
class CriticalInit:
    """A point on the critical line: initialise weights N(0, sigma_w2/fan_in), biases N(0, sigma_b2)."""

    activation: str
    sigma_w2: float
    sigma_b2: float
    q_star: float
    chi1: float

    @property
    def weight_std_times_sqrt_fan_in(self) -> float:
        return math.sqrt(self.sigma_w2)


def critical_init(act: Any, sigma_b2: float | None = None, q_star: float | None = None,
                  **params: Any) -> CriticalInit:
    r"""A critical initialisation of ``act``, given either ``sigma_b2`` (default 0) or the desired
    fixed point ``q_star`` (Pennington et al. 2017 parametrise the critical line by q*: small q*
    keeps a sigmoidal net in its linear regime, which dynamical isometry needs). Given q*:
    :math:`\sigma_w^2 = 1/E[\phi'(\sqrt{q^*}z)^2]`, :math:`\sigma_b^2 = q^* - \sigma_w^2 V(q^*)`,
    which must be >= 0 (else no critical point has this q*: ValueError)."""
    mf = MeanField(act, **params)
    if q_star is not None:
        if sigma_b2 is not None:
            raise ValueError("critical_init: give sigma_b2 or q_star, not both")
        if not (isinstance(q_star, (int, float)) and 0 < q_star < math.inf):
            raise ValueError(f"critical_init: q_star={q_star!r} is invalid; valid: a number > 0")
        sw = 1.0 / float(mf.mean_df2(float(q_star)))
        sb = float(q_star) - sw * float(mf.V(float(q_star)))
        if sb < -1e-12:
            raise ValueError(f"critical_init: no critical point of {mf.phi.label} has q*={q_star:g} "
                             f"(it would need sigma_b2={sb:.3g} < 0)")
        sb = max(sb, 0.0)
        return CriticalInit(mf.phi.label, sw, sb, float(q_star), 1.0)
    sb = 0.0 if sigma_b2 is None else float(sigma_b2)
    sw = float(critical_line(mf.phi, sb))
    if math.isnan(sw):
        raise ValueError(f"critical_init: {mf.phi.label} has no critical point at sigma_b2={sb:g} "
                         "(chi_1 never equals 1 there); try another sigma_b2 or give q_star")
    qs = float(mf.q_star(sw, sb))
    return CriticalInit(mf.phi.label, sw, sb, qs, float(mf.chi1(sw, qs)))


# ---------------------------------------------------------------------------------------------
# comparison of activations and the phase diagram
# ---------------------------------------------------------------------------------------------
#: Common initialisations as (sigma_w^2, sigma_b^2). PyTorch's nn.Linear default draws weights
#: U(-1/sqrt(fan_in), 1/sqrt(fan_in)): variance 1/(3 fan_in); its bias variance is ~0 for wide layers.
INITS: dict[str, tuple[float, float]] = {
    "lecun": (1.0, 0.0),
    "he": (2.0, 0.0),
    "torch_default": (1.0 / 3.0, 0.0),
}


def compare(acts: list[Any], sigma_b2: float = 0.0, inits: Mapping[str, tuple[float, float]] = INITS,
            ) -> list[dict[str, Any]]:
    """One row per activation: its critical sigma_w^2 (and q*) at ``sigma_b2``, and chi_1 and
    the trainable depth at each of ``inits``."""
    rows = []
    for act in acts:
        mf = MeanField(act)
        row: dict[str, Any] = {"activation": mf.phi.label}
        sw_c = float(critical_line(mf.phi, sigma_b2))
        row["critical_sigma_w2"] = sw_c
        row["critical_q_star"] = float(mf.q_star(sw_c, sigma_b2)) if math.isfinite(sw_c) else math.nan
        names = list(inits)
        sws = _t([inits[n][0] for n in names])
        sbs = _t([inits[n][1] for n in names])
        r = mf.evaluate(sws, sbs)
        for i, n in enumerate(names):
            row[f"chi1_{n}"] = float(r["chi1"][i])
            row[f"max_depth_{n}"] = float(r["max_depth"][i])
            row[f"phase_{n}"] = PHASES[int(r["phase"][i])]
        rows.append(row)
    return rows


@dataclass
class PhaseDiagram:
    """Mean-field quantities on a (sigma_b^2, sigma_w^2) grid: every tensor in ``values`` is
    ``(len(sigma_b2), len(sigma_w2))``; ``critical`` is the critical sigma_w^2 at each of
    ``critical_sigma_b2`` (a finer grid; NaN where there is none)."""

    activation: str
    sigma_w2: Tensor
    sigma_b2: Tensor
    values: dict[str, Tensor]
    critical: Tensor
    critical_sigma_b2: Tensor


#: Rules for the phase diagram's grid: a coarser composite rule for the length map (q* within
#: ~1e-10 of the default rule) and Gauss-Hermite for the chaotic phase's correlation map (chi_c within
#: ~1e-3 for smooth activations and a few 1e-2 for kinked ones such as selu: plenty for a colour map;
#: use :func:`analyze` for exact numbers).
GRID_RULE = Composite(order=8, z_panel=1.5, x_panel=1.0)
GRID_RULE2 = Hermite(48)


def phase_diagram(act: Any, sigma_w2: Tensor | None = None, sigma_b2: Tensor | None = None,
                  n: int = 80, rule: Rule = GRID_RULE, rule2: Rule = GRID_RULE2,
                  **params: Any) -> PhaseDiagram:
    """Evaluate the mean field on a grid (default: sigma_b^2 in [0, 0.3], sigma_w^2 from 0.05 to
    2.5 times the critical sigma_w^2 at sigma_b^2 = 0.05, n x n points). The critical line is
    computed with the exact default rule."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"phase_diagram: n={n!r} is invalid; valid: an integer >= 2")
    exact = MeanField(act, **params)
    mf = MeanField(exact.phi, rule=rule, rule2=rule2)
    if sigma_b2 is None:
        sigma_b2 = torch.linspace(0.0, 0.3, n, dtype=DTYPE)
    if sigma_w2 is None:
        ref = float(exact.critical_line(0.05))
        top = 2.5 * ref if math.isfinite(ref) else 5.0
        sigma_w2 = torch.linspace(0.05, top, n, dtype=DTYPE)
    sw, sb = _t(sigma_w2).reshape(-1), _t(sigma_b2).reshape(-1)
    SB, SW = torch.meshgrid(sb, sw, indexing="ij")
    values = mf.evaluate(SW, SB, c_tol=1e-9)
    # The critical line is cheap (1-D): draw it finely, densest near sigma_b^2 = 0 where it bends.
    lo, hi = float(sb.min()), float(sb.max())
    t = torch.linspace(0.0, 1.0, 301, dtype=DTYPE)
    line_sb = lo + (hi - lo) * t**2
    return PhaseDiagram(exact.phi.label, sw, sb, values, exact.critical_line(line_sb), line_sb)


__all__ = [
    "GRID_RULE",
    "GRID_RULE2",
    "INITS",
    "PHASES",
    "Composite",
    "CriticalInit",
    "Hermite",
    "LayerPrediction",
    "MeanField",
    "MeanFieldResult",
    "PhaseDiagram",
    "Phi",
    "activation",
    "analyze",
    "chi1",
    "compare",
    "critical_init",
    "critical_line",
    "critical_sigma_w2",
    "depth_scales",
    "layer_chi1",
    "max_trainable_depth",
    "phase_diagram",
    "q_star",
]
