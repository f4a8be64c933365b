"""The registry: one dict from canonical name to :class:`Spec`, plus aliases.

Public API (re-exported as ``actlab.names``, ``actlab.get``, ...):

* :func:`names` - canonical names; :func:`spec` - the spec of a name or alias;
* :func:`get` - a new module; :func:`serialize` / :func:`deserialize` - the config round trip;
* :func:`register` - add a user activation that then works everywhere a built-in does.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from typing import Any, overload

import torch
from torch import nn

from actlab.catalog.measure import measure_properties
from actlab.catalog.modules import Activation, StochasticActivation
from actlab.catalog.spec import Param, Properties, Saturation, Spec

_SPECS: dict[str, Spec] = {}
_ALIASES: dict[str, str] = {}


def _key(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def add(spec: Spec, replace: bool = False) -> Spec:
    """Add a spec to the registry (used by the built-in entries and :func:`register`)."""
    taken = [n for n in (spec.name, *spec.aliases) if n in _SPECS or n in _ALIASES]
    if taken and not replace:
        raise ValueError(f"activation name {taken[0]!r} is already registered; "
                         "pass replace=True to override it")
    _SPECS[spec.name] = spec
    for a in spec.aliases:
        _ALIASES[a] = spec.name
    return spec


def unregister(name: str) -> None:
    """Remove a user-registered activation (built-ins cannot be removed)."""
    s = spec(name)
    if not s.user:
        raise ValueError(f"{s.name!r} is built in and cannot be unregistered")
    del _SPECS[s.name]
    for a in s.aliases:
        _ALIASES.pop(a, None)


def names(include_aliases: bool = False) -> list[str]:
    """Canonical names in catalog order (with ``include_aliases``, aliases too)."""
    out = list(_SPECS)
    return out + sorted(_ALIASES) if include_aliases else out


def aliases() -> dict[str, str]:
    return dict(_ALIASES)


def canonical(name: str) -> str:
    """The canonical name of ``name`` or an alias; ``KeyError`` with close matches otherwise."""
    if not isinstance(name, str):
        raise TypeError(f"activation name must be a string, got {type(name).__name__}")
    k = _key(name)
    if k in _SPECS:
        return k
    if k in _ALIASES:
        return _ALIASES[k]
    close = difflib.get_close_matches(k, names(include_aliases=True), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise UnknownActivationError(
        f"unknown activation {name!r}{hint} (actlab.names() or `actlab list` shows all {len(_SPECS)})"
    )


class UnknownActivationError(KeyError, ValueError):
    """An activation name that is neither canonical nor an alias."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def spec(name: str) -> Spec:
    """The spec of an activation (canonical name or alias)."""
    return _SPECS[canonical(name)]


@overload
def get(name: str | Mapping[str, Any], **params: Any) -> Activation: ...
@overload
def get(name: nn.Module, **params: Any) -> nn.Module: ...


def get(name: str | Mapping[str, Any] | nn.Module, **params: Any) -> nn.Module:
    """A new module: ``get("leaky_relu", negative_slope=0.2)``; also accepts a config dict
    (``get(module.get_config())``) or a module (returned as is)."""
    if isinstance(name, nn.Module):
        if params:
            raise ValueError(f"get: parameters {sorted(params)} cannot be given with a module "
                             f"({type(name).__name__}); valid: a name or config with parameters, or a "
                             "module alone")
        return name
    if isinstance(name, Mapping):
        config = dict(name)
        config.update(params)
        if "name" not in config:
            raise ValueError(f"activation config {config!r} has no 'name'; valid: a dict like "
                             "{'name': 'leaky_relu', 'negative_slope': 0.2}")
        name = config.pop("name")
        params = config
    elif not isinstance(name, str):
        use = " (a function: register it first, actlab.register(name, fn))" if callable(name) else ""
        raise TypeError(f"get: expected an activation name, a config dict or an nn.Module, got "
                        f"{type(name).__name__}{use}")
    s = spec(name)
    params = dict(params)
    inplace = params.pop("inplace", False)  # a module option, as torch's, not a parameter of f
    runtime = {"generator"} if issubclass(s.module, StochasticActivation) else set()
    s.resolve({k: v for k, v in params.items() if k not in runtime})  # one-line ValueError
    module = s.module(**params)
    return module.set_inplace(inplace) if inplace is not False else module


def serialize(module: nn.Module) -> dict[str, Any]:
    """The JSON-ready config of a catalog module: ``{"name": ..., **params}``."""
    if isinstance(module, Activation):
        return module.get_config()
    from actlab.catalog.torch_map import from_torch

    mapped = from_torch(module)
    if mapped is None:
        raise TypeError(f"{type(module).__name__} is not an activation actlab knows")
    if getattr(module, "inplace", False):  # kept where actlab has the in-place form (same results)
        try:
            get(mapped).set_inplace(True)
            return {**mapped, "inplace": True}
        except ValueError:
            pass
    return mapped


def deserialize(config: Mapping[str, Any]) -> nn.Module:
    """Inverse of :func:`serialize`: ``deserialize(serialize(m))`` equals ``m`` (learned values
    travel in ``state_dict``)."""
    return get(config)


def _check_user_functions(name: str, fn: Callable[..., torch.Tensor],
                          derivative: Callable[..., torch.Tensor] | None,
                          params: dict[str, Any]) -> None:
    """Fail at registration, not later: fn must map a float tensor to one of the same shape, and
    a given derivative must agree with autograd of fn (off any grid a kink would sit on)."""
    x = torch.linspace(-5.03, 4.97, 101, dtype=torch.float64)
    try:
        y = fn(x, **params)
    except Exception as e:
        raise ValueError(f"register({name!r}): fn(x) failed on a float64 tensor: "
                         f"{type(e).__name__}: {e}".splitlines()[0]) from e
    if not isinstance(y, torch.Tensor) or y.shape != x.shape:
        got = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
        raise ValueError(f"register({name!r}): fn must be elementwise (a tensor of the input's "
                         f"shape {tuple(x.shape)}); got {got}")
    if derivative is None:
        return
    d = derivative(x, **params)
    with torch.enable_grad():
        xr = x.clone().requires_grad_(True)
        out = fn(xr, **params)
        if not out.requires_grad:  # not differentiable by autograd: nothing to compare with
            return
        (g,) = torch.autograd.grad(out.sum(), xr)
    bad = (d - g).abs() > 1e-6 * (1 + g.abs())
    if bad.any():
        i = int(torch.nonzero(bad)[0])
        raise ValueError(f"register({name!r}): derivative disagrees with autograd of fn at "
                         f"x={float(x[i]):.6g} ({float(d[i]):.6g} vs {float(g[i]):.6g}); "
                         "valid: f' of fn, or derivative=None to use autograd")


def _rebuild(config: Mapping[str, Any], state: Mapping[str, Any], training: bool) -> nn.Module:
    """Unpickle a module of a user-registered activation (the name must be registered)."""
    m = get(config)
    m.load_state_dict(state)
    return m.train(training)


_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")

_PROPERTY_NAMES = set(Properties.__dataclass_fields__) - {"measured", "elementwise"}


def register(
    name: str,
    fn: Callable[..., torch.Tensor],
    derivative: Callable[..., torch.Tensor] | None = None,
    *,
    params: Mapping[str, Any] | None = None,
    formula: str = "",
    aliases: tuple[str, ...] = (),
    reference: str = "",
    doc: str = "",
    replace: bool = False,
    **properties: Any,
) -> Spec:
    """Add an activation in one call; it then works wherever a built-in does.

    Args:
        name: canonical name (lower case, digits, underscores).
        fn: ``fn(x, **params) -> Tensor``, elementwise, differentiable by autograd.
        derivative: closed-form f'; when omitted, autograd supplies it.
        params: parameter names and defaults (any number is accepted as a value).
        **properties: any field of :class:`Properties` (``output_range=(0, 1)``,
            ``monotonic=True``, ...). Fields not given are measured numerically on a float64 grid
            by the same checks that verify the built-ins, and listed in ``Properties.measured``.

    Example::

        >>> actlab.register("square_plus", lambda x: 0.5 * (x + torch.sqrt(x * x + 4)))
        >>> actlab.get("square_plus")
    """
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValueError(f"activation name {name!r} is invalid; valid: lower case letters, "
                         "digits and underscores, starting with a letter")
    if not callable(fn):
        raise TypeError(f"register({name!r}): fn must be callable")
    unknown = sorted(set(properties) - _PROPERTY_NAMES)
    if unknown:
        raise ValueError(f"register({name!r}): unknown property {unknown[0]!r}; "
                         f"valid: {', '.join(sorted(_PROPERTY_NAMES))}")
    param_specs = tuple(
        Param(k, v, kind=type(v) if isinstance(v, (bool, int, str)) else float)
        for k, v in (params or {}).items()
    )
    declared = dict(properties)
    if "saturation" in declared:
        declared["saturation"] = tuple(
            s if isinstance(s, Saturation) else Saturation(*s) if isinstance(s, tuple)
            else Saturation(s) for s in declared["saturation"]
        )
        kinds = [s.kind for s in declared["saturation"]]
        if len(kinds) != 2 or not set(kinds) <= {"none", "soft", "hard"}:
            raise ValueError(f"register({name!r}): saturation={properties['saturation']!r} is "
                             "invalid; valid: (left, right), each 'none', 'soft' or ('hard', t)")
    _check_user_functions(name, fn, derivative, {p.name: p.default for p in param_specs})

    def properties_fn(**p: Any) -> Properties:
        measured = measure_properties(fn, derivative, **p)
        values = {f: declared.get(f, getattr(measured, f)) for f in _PROPERTY_NAMES}
        values["measured"] = frozenset(f for f in measured.measured if f not in declared)
        return Properties(**values)

    module_cls = type(
        "".join(part.capitalize() for part in name.split("_")),
        (Activation,),
        {
            "name": name,
            "__doc__": doc or f"User-registered activation {name!r}.",
            # The class is made here, so pickle cannot find it by name: rebuild from the config.
            "__reduce_ex__": lambda self, protocol: (
                _rebuild, (self.get_config(), self.state_dict(), self.training)
            ),
        },
    )
    s = Spec(
        name=name,
        fn=fn,
        derivative_fn=derivative,
        module=module_cls,
        properties_fn=properties_fn,
        params=param_specs,
        formula=formula,
        aliases=tuple(aliases),
        reference=reference,
        doc=doc,
        user=True,
    )
    if replace and name in _SPECS:
        old = _SPECS[name]
        if not old.user:
            raise ValueError(f"activation name {name!r} is a built-in and cannot be replaced; "
                             "choose another name")
        for a in old.aliases:
            _ALIASES.pop(a, None)
    return add(s, replace=replace)
