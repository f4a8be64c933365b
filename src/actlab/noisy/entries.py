r"""The noisy units as catalog entries: ``<kind>_<unit>`` for kind in nan, nani, nanis, nanil and
unit in hard_tanh, hard_sigmoid, relu (12 entries).

Properties describe the **eval form** (what ``spec.fn(x, **params)`` computes without
``training=True``: xi replaced by E[xi] or 0), at ``p`` (a module with ``p_init="uniform"`` starts
with per-unit values in [-|p|, |p|]; only |p| matters to NAN, so ``p`` is its noisiest unit).
``stochastic`` is True for all, ``learnable`` for NAN and NANIL (``p``).

They are derived from the formulas, as the built-ins' are (and checked against numerical
measurement by the catalog tests), except NANIL's eval form with half-normal noise, whose
shape depends on p and c in too many ways to be worth a case analysis: its properties are measured
(listed in ``Properties.measured``).

NAN beyond a threshold, at outward distance s >= 0 (right: x = t_R + s, value H_R + psi(s);
left: x = t_L - s, value H_L - psi(s)) is

    psi(s) = lambda s + kappa gamma(beta s),   lambda = (1 - alpha) slope,
    kappa = sgn(alpha - 1) c E[xi],  beta = |p| slope,  gamma(v) = (sigma(v) - 1/2)^2,

so its slope there is psi'(s) = lambda + kappa beta G(beta s) with G = gamma', which rises from
0 to G_max = sqrt(3)/18 at v* = ln(2 + sqrt(3)) and falls back to 0: everything below follows
from that (lambda and kappa have opposite signs).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import torch
from torch import Tensor

from actlab.catalog.measure import bisect_root, gaussian_mean, measure_properties
from actlab.catalog.registry import add, spec
from actlab.catalog.spec import NONE, Param, Properties, Spec, hard
from actlab.noisy import functional as NF
from actlab.noisy import modules as NM

INF = math.inf
#: max of G(v) = d/dv (sigma(v) - 1/2)^2 over v >= 0, attained at V_STAR.
G_MAX = math.sqrt(3.0) / 18.0
V_STAR = math.log(2.0 + math.sqrt(3.0))


def _sig(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v)) if v >= 0 else math.exp(v) / (1.0 + math.exp(v))


def _gamma(v: float) -> float:
    return (_sig(v) - 0.5) ** 2


def _G(v: float) -> float:
    return 2.0 * (_sig(v) - 0.5) * _sig(v) * _sig(-v)


def _h_properties(unit_name: str) -> Properties:
    """The properties of the plain unit h (the catalog's own entries)."""
    if unit_name == "hard_sigmoid":
        return spec("hard_sigmoid").properties(slope=0.25)
    return spec(unit_name).properties()


def _mark(p: Properties, learnable: bool) -> Properties:
    return replace(p, stochastic=True, learnable=learnable)


# ---------------------------------------------------------------------------------------------
# NAN
# ---------------------------------------------------------------------------------------------
def _nan_tail_fixed_points(lam: float, kappa: float, beta: float, D: float) -> list[float]:
    """Roots s > 0 of psi(s) - s = D, i.e. F(s) = (lambda - 1) s + kappa gamma(beta s) - D.

    lambda - 1 < 0 and D >= 0: without kappa > 0, F decreases from -D and has no root. With it,
    F' = (lambda - 1) + kappa beta G(beta s) is negative, then positive on (s1, s2) if
    kappa beta G_max > 1 - lambda, then negative: F has a local max at s2 and roots on both
    sides of it when F(s2) > 0."""
    if kappa <= 0.0 or beta == 0.0 or kappa * beta * G_MAX <= 1.0 - lam:
        return []
    level = (1.0 - lam) / (kappa * beta)

    def F(s: float) -> float:
        return (lam - 1.0) * s + kappa * _gamma(beta * s) - D

    v1 = bisect_root(lambda v: _G(v) - level, 0.0, V_STAR)
    v2 = bisect_root(lambda v: _G(v) - level, V_STAR, 700.0)
    s1, s2 = v1 / beta, v2 / beta
    top = F(s2)
    if top < 0.0:
        return []
    if top == 0.0:
        return [s2]
    far = 2.0 * max(s2, (kappa / 4.0) / (1.0 - lam)) + 1.0  # F(far) < 0
    return [bisect_root(F, s1, s2), bisect_root(F, s2, far)]


def _nan_properties(unit_name: str, alpha: float, c: float, p: float, p_init: str,
                    num_parameters: int, noise: str, eval_noise: str) -> Properties:
    u = NF.unit(unit_name)
    if alpha == 1.0:  # d(x) = 0: no noise, and alpha h + (1 - alpha) u = h
        return _mark(_h_properties(unit_name), learnable=True)
    m = u.slope
    lam = (1.0 - alpha) * m
    kappa = math.copysign(1.0, alpha - 1.0) * c * NF.eval_xi(noise, eval_noise)
    beta = abs(p) * m
    swing = abs(kappa) * beta * G_MAX  # how far the tail slope moves from lambda
    t_lo, t_hi = u.thresholds
    kinks = (t_lo,) if t_hi is None else (t_lo, t_hi)

    # Slope on the tails: sgn(lambda) * [|lambda| - swing, |lambda|].
    sup = max(m, abs(lam), abs(abs(lam) - swing))
    monotonic = alpha < 1.0 and swing <= abs(lam)

    # Range: a tail goes to H + sgn(lambda) inf on the right, H - sgn(lambda) inf on the left.
    if t_hi is not None or alpha < 1.0:
        out_range, attained = (-INF, INF), (False, False)
    else:  # relu, alpha > 1: the left tail is omega(s) = |lambda| s - |kappa| gamma(beta s) -> +inf
        low = 0.0
        if swing > abs(lam):  # omega dips: its local min is where |kappa| beta G(beta s) = |lambda|
            v2 = bisect_root(lambda v: _G(v) - abs(lam) / (abs(kappa) * beta), V_STAR, 700.0)
            s2 = v2 / beta
            low = min(0.0, abs(lam) * s2 - abs(kappa) * _gamma(beta * s2))
        out_range, attained = (low, INF), (True, False)

    # Fixed points: the linear piece, then the tails (x = t_R + s, x = t_L - s).
    if unit_name == "hard_tanh":
        fps: list[tuple[float, float]] = [(-1.0, 1.0)]
    elif unit_name == "hard_sigmoid":
        fps = [(2.0 / 3.0, 2.0 / 3.0)]
    else:
        fps = [(0.0, INF)]
    if t_hi is not None:
        for s in _nan_tail_fixed_points(lam, kappa, beta, t_hi - u.high):
            fps.append((t_hi + s, t_hi + s))
    for s in _nan_tail_fixed_points(lam, kappa, beta, u.low - t_lo):
        fps.append((t_lo - s, t_lo - s))

    fn = _entry_function("nan", unit_name, {})
    params = {"alpha": alpha, "c": c, "p": p, "noise": noise, "eval_noise": eval_noise}
    zero_centred = unit_name == "hard_tanh" or abs(gaussian_mean(lambda x: fn(x, **params))) < 1e-6
    return Properties(output_range=out_range, range_attained=attained, monotonic=monotonic,
                      zero_centred=zero_centred, smoothness=0, differentiable_at_0=0.0 not in kinks,
                      kinks=kinks, saturation=(NONE, NONE), sup_derivative=sup,
                      fixed_points=tuple(sorted(fps)), learnable=True, stochastic=True)


# ---------------------------------------------------------------------------------------------
# NANI: h(x + a), a = c E[xi]
# ---------------------------------------------------------------------------------------------
def _nani_properties(unit_name: str, c: float, noise: str, eval_noise: str) -> Properties:
    a = c * NF.eval_xi(noise, eval_noise)
    hp = _h_properties(unit_name)
    if a == 0.0:
        return _mark(hp, learnable=False)
    kinks = tuple(k - a for k in hp.kinks)
    left, right = hp.saturation
    left = hard(left.threshold - a)
    right = hard(right.threshold - a) if right.kind == "hard" else right
    if unit_name == "hard_tanh":
        fps: tuple = ((1.0, 1.0),)  # h(x + a) = 1 = x at x = 1 >= 1 - a; nowhere else
    elif unit_name == "hard_sigmoid":
        # (x + a)/4 + 1/2 = x at (2 + a)/3, on the linear piece while a < 1; then x = 1.
        x_star = (2.0 + a) / 3.0 if a < 1.0 else 1.0
        fps = ((x_star, x_star),)
    else:
        fps = ()
    return replace(hp, zero_centred=False, kinks=kinks, differentiable_at_0=0.0 not in kinks,
                   saturation=(left, right), fixed_points=fps, stochastic=True, learnable=False)


# ---------------------------------------------------------------------------------------------
# NANIS: h(x + a) strictly beyond the thresholds, h(x) elsewhere
# ---------------------------------------------------------------------------------------------
def _nanis_properties(unit_name: str, c: float, noise: str, eval_noise: str) -> Properties:
    """With a > 0 only the left tail changes (the right one stays saturated: h(x + a) = h(x)):
    on (t_L - a, t_L) it is back on the linear piece, so the value jumps up just left of t_L
    (a discontinuity at t_L), and it saturates again left of t_L - a. For a shift beyond the
    linear piece's width the left tail also reaches the upper clamp, at t_R - a."""
    a = c * NF.eval_xi(noise, eval_noise)
    hp = _h_properties(unit_name)
    if a == 0.0:
        return _mark(hp, learnable=False)
    u = NF.unit(unit_name)
    t_lo, t_hi = u.thresholds
    kinks = {t_lo - a, t_lo}
    if t_hi is not None:
        kinks.add(t_hi)
        if t_hi - a < t_lo:
            kinks.add(t_hi - a)
    kinks_t = tuple(sorted(kinks))
    return replace(hp, monotonic=False, zero_centred=False, smoothness=-1, kinks=kinks_t,
                   differentiable_at_0=0.0 not in kinks_t,
                   saturation=(hard(t_lo - a), hp.saturation[1]), stochastic=True, learnable=False)


# ---------------------------------------------------------------------------------------------
# NANIL: h(x + a softplus(p |Delta|)), a = c E[xi]
# ---------------------------------------------------------------------------------------------
def _nanil_properties(unit_name: str, c: float, p: float, p_init: str, num_parameters: int,
                      noise: str, eval_noise: str) -> Properties:
    a = c * NF.eval_xi(noise, eval_noise)
    if a == 0.0:
        return _mark(_h_properties(unit_name), learnable=True)
    kw = {"c": c, "p": p, "noise": noise, "eval_noise": eval_noise}
    measured = measure_properties(_entry_function("nanil", unit_name, {}),
                                  _entry_derivative("nanil", unit_name, {}), **kw)
    return replace(measured, stochastic=True, learnable=True)


# ---------------------------------------------------------------------------------------------
# the entries
# ---------------------------------------------------------------------------------------------
POS = {"low": 0.0, "low_inclusive": False}
UNIT_NAMES = ("hard_tanh", "hard_sigmoid", "relu")

#: Defaults: the authors' code where it has them (NTanhP, NSigmoidP, NHardTanh, NTanhPInp);
#: relu's alpha < 1 keeps NAN's eval form a leaky ReLU.
DEFAULTS: dict[tuple[str, str], dict[str, Any]] = {
    ("nan", "hard_tanh"): {"alpha": 1.15, "c": 0.5, "noise": "normal"},
    ("nan", "hard_sigmoid"): {"alpha": 1.1, "c": 0.15, "noise": "half_normal"},
    ("nan", "relu"): {"alpha": 0.9, "c": 0.5, "noise": "normal"},
    **{("nani", u): {"c": 0.05, "noise": "normal"} for u in UNIT_NAMES},
    # NHardTanhSat uses c = 0.25, with which only inputs within ~0.5 of a threshold ever leave
    # saturation; 1 is the unit's own input scale.
    **{("nanis", u): {"c": 1.0, "noise": "normal"} for u in UNIT_NAMES},
    **{("nanil", u): {"c": 0.25, "noise": "normal"} for u in UNIT_NAMES},
}


def _params(kind: str, unit_name: str) -> tuple[Param, ...]:
    d = DEFAULTS[(kind, unit_name)]
    c = Param("c", d["c"], "noise scale (annealed by NoiseAnnealer; 0: no noise)", low=0.0)
    noise = Param("noise", d["noise"], "distribution of xi: N(0, 1) or |N(0, 1)|",
                  choices=NF.NOISE_TYPES, kind=str)
    eval_noise = Param("eval_noise", "expectation", "eval mode: xi -> E[xi], or 'none': xi -> 0",
                       choices=NF.EVAL_NOISE, kind=str)
    p = Param("p", 1.0, "initial p (the learned noise slope); the functional form's p")
    p_init = Param("p_init", "constant", "'constant': p; 'uniform': U[-|p|, |p|] per value",
                   choices=("constant", "uniform"), kind=str)
    num = Param("num_parameters", 1, "1 (one p shared) or the number of units (dim 1)",
                low=1, kind=int)
    if kind == "nan":
        alpha = Param("alpha", d["alpha"], "mix alpha h + (1 - alpha) u; alpha = 1: no noise", **POS)
        return (alpha, c, p, p_init, num, noise, eval_noise)
    if kind == "nanil":
        return (c, p, p_init, num, noise, eval_noise)
    return (c, noise, eval_noise)


def _defaults(kind: str, unit_name: str) -> dict[str, Any]:
    return {q.name: q.default for q in _params(kind, unit_name)}


_FUNCTIONAL_ONLY = ("p_init", "num_parameters")  # module-only parameters


def _entry_function(kind: str, unit_name: str, defaults: dict[str, Any]) -> Callable[..., Tensor]:
    """``fn(x, **params, training=False, generator=None, xi=None)`` with the entry's defaults."""
    base = NF.FUNCTIONS[kind]
    name = f"{kind}_{unit_name}"

    def fn(x: Tensor, training: bool = False, generator: torch.Generator | None = None,
           xi: Tensor | None = None, **params: Any) -> Tensor:
        kw = {**defaults, **params}
        for k in _FUNCTIONAL_ONLY:
            kw.pop(k, None)
        return base(x, unit_name, **kw, training=training, generator=generator, xi=xi)

    _describe(fn, name, unit_name, defaults, base, extra=("training", "generator", "xi"))
    return fn


def _entry_derivative(kind: str, unit_name: str, defaults: dict[str, Any]) -> Callable[..., Tensor]:
    base = NF.DERIVATIVES[kind]
    name = f"d_{kind}_{unit_name}"

    def d(x: Tensor, **params: Any) -> Tensor:
        kw = {**defaults, **params}
        for k in _FUNCTIONAL_ONLY:
            kw.pop(k, None)
        return base(x, unit_name, **kw)

    _describe(d, name, unit_name, defaults, base, extra=())
    return d


def _describe(fn: Callable, name: str, unit_name: str, defaults: dict[str, Any], base: Callable,
              extra: tuple[str, ...]) -> None:
    """A name, docstring and signature (``help()``, IDEs) for a generated functional form."""
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (f"``actlab.noisy.functional.{base.__name__}(x, {unit_name!r}, ...)`` with this "
                  f"entry's defaults.\n\n{base.__doc__ or ''}")
    params = [inspect.Parameter("x", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Tensor)]
    params += [inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=v)
               for k, v in defaults.items()]
    params += [inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY,
                                 default=False if k == "training" else None) for k in extra]
    fn.__signature__ = inspect.Signature(params, return_annotation=Tensor)  # type: ignore[attr-defined]


FORMULAS = {
    "nan": r"\phi(x) = \alpha h(x) + (1 - \alpha)u(x) - \mathrm{sgn}(x)\mathrm{sgn}(1 - \alpha)"
           r"\,c\,(\sigma(p\Delta(x)) - \tfrac12)^2\,\xi",
    "nani": r"\phi(x) = h(x + c\,\xi)",
    "nanis": r"\phi(x) = h(x + c\,\xi\,[x \text{ saturated}])",
    "nanil": r"\phi(x) = h(x + c\,\mathrm{softplus}(p|\Delta(x)|)\,\xi)",
}
DOCS = {
    "nan": "noise added to the output where saturated; p learned",
    "nani": "noise added to the input",
    "nanis": "noise added to the input where saturated",
    "nanil": "input noise with a learned scale",
}
REFERENCE = "Gulcehre, Moczulski, Denil & Bengio 2016 (Noisy Activation Functions, ICML)"


def _properties_fn(kind: str, unit_name: str) -> Callable[..., Properties]:
    if kind == "nan":
        return lambda **kw: _nan_properties(unit_name, **kw)
    if kind == "nani":
        return lambda **kw: _nani_properties(unit_name, **kw)
    if kind == "nanis":
        return lambda **kw: _nanis_properties(unit_name, **kw)
    return lambda **kw: _nanil_properties(unit_name, **kw)


SPECS: list[Spec] = []
for _cls in NM.MODULES:
    _kind, _unit = _cls.kind, _cls.unit
    _d = _defaults(_kind, _unit)
    SPECS.append(Spec(
        name=_cls.name,
        fn=_entry_function(_kind, _unit, _d),
        derivative_fn=_entry_derivative(_kind, _unit, _d),
        module=_cls,
        properties_fn=_properties_fn(_kind, _unit),
        params=_params(_kind, _unit),
        formula=FORMULAS[_kind] + (r",\ u = x/4 + 1/2" if _unit == "hard_sigmoid" else r",\ u = x"),
        reference=REFERENCE,
        doc=f"{_unit} with {DOCS[_kind]} (train; eval: xi -> E[xi])",
    ))

for _s in SPECS:
    add(_s)

#: The functional forms by entry name: ``FUNCTIONAL["nan_hard_tanh"](x, training=True)``.
FUNCTIONAL: dict[str, Callable[..., Tensor]] = {s.name: s.fn for s in SPECS}
DERIVATIVE: dict[str, Callable[..., Tensor]] = {s.name: s.derivative_fn for s in SPECS}  # type: ignore[misc]
