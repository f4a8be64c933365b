"""The activation catalog: specs, functional forms, modules and the registry."""

from actlab.catalog import entries as _entries  # noqa: F401  (registers the built-ins)
from actlab.catalog.modules import Activation, StochasticActivation
from actlab.catalog.registry import (
    UnknownActivationError,
    aliases,
    canonical,
    deserialize,
    get,
    names,
    register,
    serialize,
    spec,
    unregister,
)
from actlab.catalog.spec import Param, Properties, Saturation, Spec

__all__ = [
    "Activation",
    "Param",
    "Properties",
    "Saturation",
    "Spec",
    "StochasticActivation",
    "UnknownActivationError",
    "aliases",
    "canonical",
    "deserialize",
    "get",
    "names",
    "register",
    "serialize",
    "spec",
    "unregister",
]
