"""The data model of the catalog: parameters, properties and the spec of one activation.

A :class:`Spec` is everything actlab knows about one activation: how to compute it (functional
form, closed-form derivative, module class), how to describe it (formula, paper, PyTorch
equivalent) and what it does (:class:`Properties`: range, monotonicity, saturation, fixed points,
...). Properties depend on parameters (leaky_relu's range depends on its slope), so a spec holds a
function from parameters to properties; ``spec.properties()`` evaluates it at the defaults.

Every declared property is checked against the function itself by
``tests/test_catalog_properties.py`` with the numerical measurements of
:mod:`actlab.catalog.measure`; properties of user-registered activations that are not declared are
measured by the same code and listed in ``Properties.measured``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

import torch

Interval = tuple[float, float]
SaturationKind = Literal["none", "soft", "hard"]


@dataclass(frozen=True)
class Param:
    """One parameter of an activation, with its default and its valid range.

    ``low``/``high`` bound numeric parameters (``None``: unbounded); ``choices`` restricts
    categorical ones. ``learnable`` marks parameters that become ``nn.Parameter`` in the module.
    """

    name: str
    default: Any
    doc: str = ""
    low: float | None = None
    high: float | None = None
    low_inclusive: bool = True
    high_inclusive: bool = True
    choices: tuple[Any, ...] | None = None
    kind: type = float

    def range_text(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.kind is bool:
            return "True or False"
        if self.low is None and self.high is None:
            return "any finite number" if self.kind is float else f"any {self.kind.__name__}"
        lo = "-inf" if self.low is None else f"{self.low:g}"
        hi = "inf" if self.high is None else f"{self.high:g}"
        lb = "[" if self.low is not None and self.low_inclusive else "("
        rb = "]" if self.high is not None and self.high_inclusive else ")"
        return f"{lb}{lo}, {hi}{rb}"

    def validate(self, value: Any, entry: str) -> Any:
        """Return ``value`` converted to the parameter's kind, or raise a one-line ValueError."""
        where = f"{entry}: parameter {self.name}={value!r}"
        if self.choices is not None:
            if value not in self.choices:
                raise ValueError(f"{where} is invalid; valid: {self.range_text()}")
            return value
        if self.kind is bool:
            if not isinstance(value, bool):
                raise ValueError(f"{where} is invalid; valid: True or False")
            return value
        bounded = self.low is not None or self.high is not None
        # numbers.Real/Integral: numpy scalars too (np.float32(0.2)); bool is an int, never a number here
        if self.kind is int:
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                integral_float = isinstance(value, numbers.Real) and float(value).is_integer()
                if not isinstance(value, bool) and integral_float:
                    value = int(value)
                else:
                    raise ValueError(f"{where} is invalid; valid: an integer in {self.range_text()}"
                                     if bounded else f"{where} is invalid; valid: an integer")
            value = int(value)
        elif self.kind is float:
            valid = f"a number in {self.range_text()}" if bounded else "any finite number"
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                hint = " (a Python number, not a tensor)" if isinstance(value, torch.Tensor) else ""
                raise ValueError(f"{where} is invalid; valid: {valid}{hint}")
            value = float(value)
            if not math.isfinite(value):
                raise ValueError(f"{where} is invalid; valid: "
                                 f"{'a finite number in ' + self.range_text() if bounded else valid}")
        if self.low is not None and (
            value < self.low or (value == self.low and not self.low_inclusive)
        ):
            raise ValueError(f"{where} is out of range; valid: {self.range_text()}")
        if self.high is not None and (
            value > self.high or (value == self.high and not self.high_inclusive)
        ):
            raise ValueError(f"{where} is out of range; valid: {self.range_text()}")
        return value


@dataclass(frozen=True)
class Saturation:
    """How the derivative behaves as x -> -inf or +inf.

    ``none``: |f'| stays away from 0; ``soft``: f' -> 0 but is never exactly 0 for finite x;
    ``hard``: f'(x) == 0 exactly for every x strictly beyond ``threshold`` (x < threshold on the
    left, x > threshold on the right), and f' != 0 just inside it.
    """

    kind: SaturationKind
    threshold: float | None = None

    def __str__(self) -> str:
        if self.kind == "hard" and self.threshold is not None:
            return f"hard@{self.threshold:g}"
        return self.kind


NONE = Saturation("none")
SOFT = Saturation("soft")


def hard(threshold: float) -> Saturation:
    return Saturation("hard", float(threshold))


@dataclass(frozen=True)
class Properties:
    """What an activation does, at one setting of its parameters.

    Attributes:
        output_range: closed hull ``(inf f, sup f)`` over the reals; ``-inf``/``inf`` when unbounded.
        range_attained: whether ``(low, high)`` are attained (``[0, 1]``) or only approached
            (``(0, 1)`` for sigmoid).
        monotonic: non-decreasing in its (own) input.
        zero_centred: ``E[f(z)] = 0`` for ``z ~ N(0, 1)`` (to 1e-6). Odd functions are; so is SELU,
            by construction; ReLU, sigmoid, ELU are not.
        smoothness: ``-1`` discontinuous, ``0`` continuous with kinks, ``1`` C^1, ``math.inf``
            infinitely differentiable (C^k for the smallest failing k otherwise).
        differentiable_at_0: whether f'(0) exists (left and right derivatives agree).
        kinks: points where f' does not exist (the closed form returns a documented one-sided
            value there).
        saturation: ``(left, right)``, as x -> -inf and x -> +inf.
        sup_derivative: ``sup |f'(x)|`` over the reals (where f' exists).
        fixed_points: solutions of f(x) = x, as closed intervals; an isolated point is ``(x, x)``.
        learnable, stochastic: whether the module has trainable parameters / draws random numbers
            in training mode.
        elementwise: ``False`` for entries that mix features (softmax, maxout).
        measured: names of properties that were measured numerically instead of declared.
    """

    output_range: Interval
    range_attained: tuple[bool, bool]
    monotonic: bool
    zero_centred: bool
    smoothness: float
    differentiable_at_0: bool
    kinks: tuple[float, ...]
    saturation: tuple[Saturation, Saturation]
    sup_derivative: float
    fixed_points: tuple[Interval, ...]
    learnable: bool = False
    stochastic: bool = False
    elementwise: bool = True
    measured: frozenset[str] = frozenset()

    def range_text(self) -> str:
        lo, hi = self.output_range
        lb = "[" if self.range_attained[0] else "("
        rb = "]" if self.range_attained[1] else ")"
        return f"{lb}{_num(lo)}, {_num(hi)}{rb}"

    def fixed_points_text(self) -> str:
        # An infinite end is open: relu's fixed points are [0, inf), not [0, inf].
        parts = [
            _num(a) if a == b
            else f"{'(' if math.isinf(a) else '['}{_num(a)}, {_num(b)}{')' if math.isinf(b) else ']'}"
            for a, b in self.fixed_points
        ]
        return ", ".join(parts) if parts else "none"

    def saturation_text(self) -> str:
        left, right = self.saturation
        return f"{left} / {right}"

    def smoothness_text(self) -> str:
        s = self.smoothness
        return {-1: "discontinuous", 0: "C0 (kinks)"}.get(s, "C-inf" if s == math.inf else f"C{s:g}")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "saturation":
                v = [{"kind": s.kind, "threshold": s.threshold} for s in v]
            elif f.name == "measured":
                v = sorted(v)
            elif isinstance(v, tuple):
                v = [list(e) if isinstance(e, tuple) else e for e in v]
            out[f.name] = v
        return out


def _num(v: float) -> str:
    if v == math.inf:
        return "inf"
    if v == -math.inf:
        return "-inf"
    return f"{v:.6g}"


PropertiesFn = Callable[..., Properties]
TensorFn = Callable[..., torch.Tensor]


@dataclass(frozen=True)
class Spec:
    """Everything actlab knows about one activation.

    Args:
        name: canonical name (``actlab.names()`` lists them).
        fn: functional form ``fn(x, **params) -> Tensor``.
        derivative_fn: closed form ``f'(x, **params)`` (elementwise entries); for softmax and
            maxout the diagonal of the Jacobian, ``d f_i / d x_i``. ``None`` only for
            user-registered entries, where autograd supplies it.
        module: the ``nn.Module`` class; ``module(**params)`` builds it.
        properties_fn: ``properties_fn(**params) -> Properties``.
        params: the parameters, with defaults and valid ranges.
        formula: LaTeX.
        aliases: other names accepted by ``actlab.get``.
        torch_equivalent: the PyTorch module or function computing the same thing, if any.
        reference: the paper or source of the definition.
        doc: one line for tables.
        user: registered by the user rather than built in.
        constraint: checks that involve several parameters (rrelu's lower <= upper); raises
            ValueError.
    """

    name: str
    fn: TensorFn
    derivative_fn: TensorFn | None
    module: type
    properties_fn: PropertiesFn
    params: tuple[Param, ...] = ()
    formula: str = ""
    aliases: tuple[str, ...] = ()
    torch_equivalent: str | None = None
    reference: str = ""
    doc: str = ""
    user: bool = False
    constraint: Callable[[dict[str, Any]], None] | None = None
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    # -- parameters -------------------------------------------------------------------------
    @property
    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def resolve(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults overridden by ``params``, validated; unknown names raise ValueError."""
        known = {p.name: p for p in self.params}
        unknown = sorted(set(params) - set(known))
        if unknown:
            valid = ", ".join(known) or "none"
            raise ValueError(
                f"{self.name}: unknown parameter {unknown[0]!r}; valid parameters: {valid}"
            )
        out = self.defaults
        for k, v in params.items():
            out[k] = known[k].validate(v, self.name)
        if self.constraint is not None:
            self.constraint(out)
        return out

    # -- computation ------------------------------------------------------------------------
    def __call__(self, x: torch.Tensor, **params: Any) -> torch.Tensor:
        _check_input(x, self.name)
        return self.fn(x, **params)

    def derivative(self, x: torch.Tensor, **params: Any) -> torch.Tensor:
        """Closed-form f'(x), same shape and dtype as ``x``.

        At a kink the closed form returns what PyTorch's autograd returns for the native op,
        so the two never disagree: relu'(0) = 0, leaky_relu'(0) = negative_slope, hard_tanh' = 0
        at both ends of the clamp. ``step'(x) = 0`` everywhere (the Dirac mass at 0 is dropped).
        For entries without a closed form (user-registered), autograd supplies it. Non-tensors
        and integer tensors raise TypeError for every entry (user derivatives included).
        """
        _check_input(x, f"{self.name}'")
        if self.derivative_fn is not None:
            return self.derivative_fn(x, **params)
        return autograd_derivative(self.fn, x, **params)

    # -- properties -------------------------------------------------------------------------
    def properties(self, **params: Any) -> Properties:
        resolved = self.resolve(params)
        key = tuple(sorted((k, repr(v)) for k, v in resolved.items()))
        if key not in self._cache:
            self._cache[key] = self.properties_fn(**resolved)
        return self._cache[key]

    def __getattr__(self, item: str) -> Any:
        # spec.output_range, spec.monotonic, ...: the properties at the default parameters.
        if item.startswith("_") or item not in Properties.__dataclass_fields__:
            raise AttributeError(f"Spec has no attribute {item!r}")
        return getattr(self.properties(), item)

    def with_(self, **changes: Any) -> Spec:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (used by ``actlab show --json`` and the report)."""
        return {
            "name": self.name,
            "aliases": list(self.aliases),
            "formula": self.formula,
            "params": [
                {"name": p.name, "default": p.default, "valid": p.range_text(), "doc": p.doc}
                for p in self.params
            ],
            "properties": self.properties().to_dict(),
            "torch_equivalent": self.torch_equivalent,
            "reference": self.reference,
            "user": self.user,
        }


def _check_input(x: object, name: str) -> None:
    from actlab.catalog.functional import check_input  # functional imports nothing from here

    check_input(x, name)


def autograd_derivative(fn: TensorFn, x: torch.Tensor, **params: Any) -> torch.Tensor:
    """f'(x) elementwise by autograd: the diagonal of the Jacobian of an elementwise fn."""
    with torch.enable_grad():
        xr = x.detach().clone().requires_grad_(True)
        y = fn(xr, **params)
        (g,) = torch.autograd.grad(y.sum(), xr)
    return g.to(x.dtype)
