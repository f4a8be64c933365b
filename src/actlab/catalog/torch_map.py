"""Map ``torch.nn`` activation modules to catalog configs (for ``serialize`` and actlab.watch)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn


def _explicit_dim(m: nn.Module) -> int:
    # dim=None is PyTorch's deprecated implicit dim (0 for 0-, 1- and 3-d inputs, else 1): no
    # single catalog dim computes the same thing, so say so instead of guessing -1.
    if m.dim is None:
        raise ValueError(f"{type(m).__name__}(dim=None) picks its dim from the input's rank "
                         "(deprecated in PyTorch); valid: a module with an explicit dim, "
                         f"e.g. nn.{type(m).__name__}(dim=-1)")
    return int(m.dim)


_MAP: dict[type, Callable[[Any], dict[str, Any]]] = {
    nn.Identity: lambda m: {"name": "identity"},
    nn.Sigmoid: lambda m: {"name": "sigmoid"},
    nn.Tanh: lambda m: {"name": "tanh"},
    nn.ReLU: lambda m: {"name": "relu"},
    nn.ReLU6: lambda m: {"name": "relu6"},
    nn.LeakyReLU: lambda m: {"name": "leaky_relu", "negative_slope": float(m.negative_slope)},
    # the constructor's init (learned slopes travel in state_dict, which actlab's prelu loads)
    nn.PReLU: lambda m: {"name": "prelu", "num_parameters": m.num_parameters,
                         "init": float(getattr(m, "init", m.weight.detach().flatten()[0]))},
    nn.RReLU: lambda m: {"name": "rrelu", "lower": float(m.lower), "upper": float(m.upper)},
    nn.ELU: lambda m: {"name": "elu", "alpha": float(m.alpha)},
    nn.SELU: lambda m: {"name": "selu"},
    nn.CELU: lambda m: {"name": "celu", "alpha": float(m.alpha)},
    nn.GELU: lambda m: {"name": "gelu", "approximate": m.approximate},
    nn.SiLU: lambda m: {"name": "silu"},
    nn.Mish: lambda m: {"name": "mish"},
    nn.Softplus: lambda m: {"name": "softplus", "beta": float(m.beta),
                            "threshold": float(m.threshold)},
    nn.Softsign: lambda m: {"name": "softsign"},
    nn.Hardtanh: lambda m: {"name": "hard_tanh", "min": float(m.min_val),
                            "max": float(m.max_val)},
    nn.Hardsigmoid: lambda m: {"name": "hard_sigmoid", "slope": 1.0 / 6.0},
    nn.Hardswish: lambda m: {"name": "hard_swish"},
    nn.LogSigmoid: lambda m: {"name": "log_sigmoid"},
    nn.Softmax: lambda m: {"name": "softmax", "dim": _explicit_dim(m)},
    nn.LogSoftmax: lambda m: {"name": "log_softmax", "dim": _explicit_dim(m)},
}


def from_torch(module: nn.Module) -> dict[str, Any] | None:
    """The catalog config equivalent to a ``torch.nn`` activation module, or ``None``.

    Subclasses match too (``nn.ReLU6`` is checked before its base ``nn.Hardtanh``)."""
    for cls in type(module).__mro__:
        if cls in _MAP:
            return _MAP[cls](module)
    return None


def torch_types() -> tuple[type, ...]:
    return tuple(_MAP)
