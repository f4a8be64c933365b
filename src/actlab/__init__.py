"""actlab: activation functions for neural networks, exact and tested.

    >>> import actlab, torch
    >>> act = actlab.get("leaky_relu", negative_slope=0.2)
    >>> actlab.spec("sigmoid").fixed_points
    ((0.6590460684074..., 0.6590460684074...),)
"""

# noisy: registers nan_hard_tanh, ... (issue 3); theory: mean-field signal propagation (issue 7);
# watch: the training monitor, callable as ``actlab.watch(model)`` (issue 4)
from actlab import functional, noisy, theory, watch
from actlab.catalog import (
    Activation,
    Param,
    Properties,
    Saturation,
    Spec,
    StochasticActivation,
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
from actlab.noisy import NoiseAnnealer

__version__ = "0.1.0"

__all__ = [
    "Activation",
    "NoiseAnnealer",
    "Param",
    "Properties",
    "Saturation",
    "Spec",
    "StochasticActivation",
    "UnknownActivationError",
    "aliases",
    "canonical",
    "deserialize",
    "functional",
    "get",
    "names",
    "noisy",
    "register",
    "serialize",
    "spec",
    "theory",
    "unregister",
    "watch",
]
