"""``nn.Module`` forms of the catalog: drop-in replacements for ``torch.nn`` activations.

Every module derives from :class:`Activation`, which validates parameters against the spec,
reports its config (``get_config()``: canonical name + parameters, so that
``actlab.get(**module.get_config())`` rebuilds an equal module) and prints them in ``repr``.
Stochastic modules draw noise only in ``train()`` mode and take an optional ``torch.Generator``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from actlab.catalog import functional as AF


class Activation(nn.Module):
    """Base class of every catalog module.

    Subclasses set ``name`` (the canonical catalog name). ``params`` are validated by the spec;
    an invalid value raises ``ValueError`` naming the parameter and its valid range.
    """

    name: ClassVar[str] = ""
    #: ``inplace=True`` (``actlab.get("relu", inplace=True)``, as ``nn.ReLU(inplace=True)``): the
    #: output overwrites the input, for the entries whose torch function has an in-place form
    inplace: bool = False

    def __init__(self, **params: Any) -> None:
        super().__init__()
        from actlab.catalog.registry import spec  # the registry imports this module

        self.spec = spec(self.name)
        self.params: dict[str, Any] = self.spec.resolve(params)
        self._fn = self.spec.fn

    def forward(self, x: Tensor) -> Tensor:
        if self.inplace:
            AF.check_input(x, self.name)
            return _IN_PLACE[self.name](x, **self.params)
        return self._fn(x, **self.params)

    def set_inplace(self, inplace: bool = True) -> Activation:
        """Compute in place (``inplace=True`` of torch's modules); returns the module. Only for the
        entries whose torch function has an in-place form, at parameters it covers."""
        if not isinstance(inplace, bool):
            raise ValueError(f"{self.name}: inplace={inplace!r} is invalid; valid: True or False")
        if inplace:
            supported = self.name in _IN_PLACE and type(self).forward is Activation.forward
            if supported and self.name == "hard_sigmoid":
                supported = self.params["slope"] == 1.0 / 6.0  # torch's hardsigmoid
            if not supported:
                raise ValueError(f"{self.name}{self.params or ''}: inplace=True is invalid; valid for "
                                 f"{', '.join(_IN_PLACE)} (hard_sigmoid with slope=1/6)")
        self.inplace = inplace
        return self

    def derivative(self, x: Tensor) -> Tensor:
        """Closed-form f'(x) at this module's parameters (learned values included)."""
        return self.spec.derivative(x, **self.params)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, **self.params, **({"inplace": True} if self.inplace else {})}

    # torch.nn's attribute names read the parameters (``act.negative_slope``, ``act.alpha``,
    # ``act.dim``; Hardtanh's ``min_val``/``max_val``), as code written for torch.nn expects; they
    # are fixed at construction, so assigning one is an error rather than a silent no-op.
    _TORCH_NAMES: ClassVar[dict[str, str]] = {"min_val": "min", "max_val": "max"}

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            params = self.__dict__.get("params")
            key = self._TORCH_NAMES.get(name, name)
            if params is not None and key in params and not self.__dict__.get("_registering"):
                return params[key]
            raise

    # A learned value may take its parameter's name (the noisy units' p, swish's beta): nn.Module
    # refuses to register a name that hasattr() already finds, so the parameters hide meanwhile.
    @contextlib.contextmanager
    def _parameters_hidden(self) -> Iterator[None]:
        self.__dict__["_registering"] = True
        try:
            yield
        finally:
            self.__dict__["_registering"] = False

    def register_parameter(self, name: str, param: nn.Parameter | None) -> None:
        with self._parameters_hidden():
            super().register_parameter(name, param)

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        with self._parameters_hidden():
            super().register_buffer(name, tensor, persistent)

    def _learned_names(self) -> frozenset[str]:
        """Parameters whose value is learned, held by an ``nn.Parameter`` of the same name (the
        noisy units' p, swish-beta's beta): those attributes may be assigned."""
        return frozenset()

    def __setattr__(self, name: str, value: Any) -> None:
        params = self.__dict__.get("params")
        key = self._TORCH_NAMES.get(name, name)
        if (params is not None and key in params and name not in self._learned_names()
                and name not in _MODULE_ATTRIBUTES  # nn.Module's own (training, ...)
                and not isinstance(getattr(type(self), name, None), property)):  # the noisy units' c
            raise AttributeError(f"actlab.{self.name}: {name} is fixed at construction; build a new "
                                 f"module, e.g. actlab.get({self.name!r}, {key}=...)")
        super().__setattr__(name, value)

    def __prepare_scriptable__(self) -> nn.Module:  # torch.jit.script calls this first
        raise RuntimeError(f"actlab.{self.name}: TorchScript cannot compile catalog modules (their "
                           "parameters are keyword arguments); use torch.compile, torch.export or "
                           "torch.jit.trace")

    def extra_repr(self) -> str:
        items = [f"{k}={v!r}" for k, v in self.params.items()]
        return ", ".join([*items, "inplace=True"] if self.inplace else items)

    # Pickling (torch.save(module), deepcopy, multiprocessing) stores the entry's name, not its
    # spec: a spec holds functions, which may be closures or lambdas (user registrations, entries
    # built by a factory) that pickle cannot store. The spec is looked up again on loading, so the
    # entry must be registered in the loading process.
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("spec", None)
        state.pop("_fn", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        from actlab.catalog.registry import spec

        super().__setstate__(state)
        self.spec = spec(self.name)
        self._fn = self.spec.fn


_MODULE_ATTRIBUTES = frozenset(dir(nn.Module)) | {"training"}

# torch's in-place forms (autograd handles them as for nn.ReLU(inplace=True))
_IN_PLACE: dict[str, Any] = {
    "relu": torch.relu_,
    "relu6": lambda x: F.relu6(x, inplace=True),
    "leaky_relu": lambda x, negative_slope: F.leaky_relu(x, negative_slope, inplace=True),
    "elu": lambda x, alpha: F.elu(x, alpha, inplace=True),
    "selu": lambda x: F.selu(x, inplace=True),
    "celu": lambda x, alpha: F.celu(x, alpha, inplace=True),
    "hard_tanh": lambda x, min, max: F.hardtanh(x, min, max, inplace=True),
    "hard_sigmoid": lambda x, slope: F.hardsigmoid(x, inplace=True),
    "hard_swish": lambda x: F.hardswish(x, inplace=True),
    "mish": lambda x: F.mish(x, inplace=True),
}


class StochasticActivation(Activation):
    """An activation that draws random numbers in training mode.

    Args:
        generator: optional ``torch.Generator`` for reproducible noise; by default the global RNG
            (so ``torch.manual_seed`` makes runs reproducible). Not with ``torch.utils.checkpoint``,
            which replays only the global RNG when it recomputes: there the recomputation would
            draw new noise.
    """

    def __init__(self, generator: torch.Generator | None = None, **params: Any) -> None:
        if generator is not None and not isinstance(generator, torch.Generator):
            raise ValueError(f"{self.name}: generator={generator!r} is invalid; valid: a "
                             "torch.Generator or None (the global RNG)")
        super().__init__(**params)
        self.generator = generator

    def forward(self, x: Tensor) -> Tensor:
        return self._fn(x, **self.params, training=self.training, generator=self.generator)


class Identity(Activation):
    r"""Identity (linear) activation: :math:`f(x) = x`.

    Shape: any. Example::

        >>> actlab.get("identity")(torch.tensor([-1.0, 2.0]))
        tensor([-1.,  2.])
    """

    name = "identity"

    def __init__(self) -> None:
        super().__init__()


class Step(Activation):
    r"""Heaviside step: :math:`f(x) = 1` if :math:`x > 0` else :math:`0`.

    Its derivative is 0 everywhere it exists, so no gradient passes: the graph stays connected
    but every gradient is exactly 0 (McCulloch & Pitts 1943; Rosenblatt's perceptron).
    """

    name = "step"

    def __init__(self) -> None:
        super().__init__()


class Sigmoid(Activation):
    r"""Logistic sigmoid: :math:`\sigma(x) = 1 / (1 + e^{-x})`, range (0, 1), :math:`\sigma' \le 1/4`.

    Equivalent to ``torch.nn.Sigmoid``.
    """

    name = "sigmoid"

    def __init__(self) -> None:
        super().__init__()


class Tanh(Activation):
    r"""Hyperbolic tangent: :math:`\tanh(x) = 2\sigma(2x) - 1`, range (-1, 1), zero-centred.

    Equivalent to ``torch.nn.Tanh``.
    """

    name = "tanh"

    def __init__(self) -> None:
        super().__init__()


class HardSigmoid(Activation):
    r"""Hard sigmoid: :math:`f(x) = \mathrm{clamp}(\text{slope}\cdot x + 0.5,\ 0,\ 1)`.

    Args:
        slope: 0.25 by default, the first-order Taylor expansion of the sigmoid at 0 and the
            definition of Gulcehre et al. 2016 (Noisy Activation Functions). PyTorch's
            ``nn.Hardsigmoid`` uses 1/6 (MobileNetV3) and Keras 2 used 0.2: pass ``slope=1/6`` to
            get PyTorch's exactly (then its native kernel is used). It saturates hard for
            :math:`|x| \ge 0.5/\text{slope}`.
    """

    name = "hard_sigmoid"

    def __init__(self, slope: float = 0.25) -> None:
        super().__init__(slope=slope)


class HardTanh(Activation):
    r"""Hard tanh: :math:`f(x) = \mathrm{clamp}(x, \min, \max)`; equals ``torch.nn.Hardtanh``.

    Hard saturation: :math:`f'(x) = 0` exactly for :math:`x \le \min` and :math:`x \ge \max`.
    """

    name = "hard_tanh"

    def __init__(self, min: float = -1.0, max: float = 1.0) -> None:
        super().__init__(min=min, max=max)


class ReLU(Activation):
    r"""Rectified linear unit: :math:`f(x) = \max(0, x)` (Nair & Hinton 2010; Glorot et al. 2011).

    Convention: :math:`f'(0) = 0`, as PyTorch's autograd.
    """

    name = "relu"

    def __init__(self) -> None:
        super().__init__()


class ReLU6(Activation):
    r""":math:`f(x) = \min(\max(0, x), 6)` (Krizhevsky 2010; MobileNet). Equals ``nn.ReLU6``."""

    name = "relu6"

    def __init__(self) -> None:
        super().__init__()


class LeakyReLU(Activation):
    r""":math:`f(x) = x` if :math:`x > 0` else :math:`\text{negative\_slope}\cdot x`
    (Maas et al. 2013). Equals ``nn.LeakyReLU``."""

    name = "leaky_relu"

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__(negative_slope=negative_slope)


class PReLU(Activation):
    r"""Parametric ReLU (He et al. 2015): :math:`f(x) = \max(0, x) + a \min(0, x)`, :math:`a` learned.

    Args:
        num_parameters: 1 (one slope shared by all channels) or the number of channels
            (dim 1 of the input).
        init: initial slope, 0.25 as in the paper and ``nn.PReLU``.
    """

    name = "prelu"

    def __init__(self, num_parameters: int = 1, init: float = 0.25) -> None:
        super().__init__(num_parameters=num_parameters, init=init)
        self.weight = nn.Parameter(torch.full((num_parameters,), float(init)))

    def forward(self, x: Tensor) -> Tensor:
        return AF.prelu(x, self.weight)

    def derivative(self, x: Tensor) -> Tensor:
        return self.spec.derivative(x, weight=self.weight.detach(), **self.params)


class RReLU(StochasticActivation):
    r"""Randomized leaky ReLU (Xu et al. 2015): in training, :math:`f(x) = a x` for :math:`x < 0`
    with :math:`a \sim U[\text{lower}, \text{upper}]` drawn per element; in eval the fixed slope
    :math:`(\text{lower} + \text{upper}) / 2`. Same distribution as ``nn.RReLU``."""

    name = "rrelu"

    def __init__(
        self,
        lower: float = 1.0 / 8.0,
        upper: float = 1.0 / 3.0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(generator=generator, lower=lower, upper=upper)


class NoisyReLU(StochasticActivation):
    r"""Noisy ReLU (Nair & Hinton 2010): :math:`f(x) = \max(0, x + \epsilon)`,
    :math:`\epsilon \sim N(0, \sigma(x))` (variance :math:`\sigma(x)`), in training; :math:`\max(0, x)`
    in eval."""

    name = "noisy_relu"

    def __init__(self, generator: torch.Generator | None = None) -> None:
        super().__init__(generator=generator)


class ELU(Activation):
    r""":math:`f(x) = x` if :math:`x > 0` else :math:`\alpha (e^x - 1)` (Clevert et al. 2016).
    Equals ``nn.ELU``."""

    name = "elu"

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__(alpha=alpha)


class SELU(Activation):
    r""":math:`f(x) = \lambda x` if :math:`x > 0` else :math:`\lambda\alpha(e^x - 1)`, with
    :math:`\alpha = 1.6732632423543772`, :math:`\lambda = 1.0507009873554805` (Klambauer et al.
    2017). With LeCun-normal init, activations keep mean 0 and variance 1. Equals ``nn.SELU``."""

    name = "selu"

    def __init__(self) -> None:
        super().__init__()


class CELU(Activation):
    r""":math:`f(x) = \max(0, x) + \min(0, \alpha(e^{x/\alpha} - 1))` (Barron 2017): ELU made
    continuously differentiable for every :math:`\alpha`. Equals ``nn.CELU``."""

    name = "celu"

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__(alpha=alpha)


class GELU(Activation):
    r""":math:`f(x) = x\,\Phi(x)` (Hendrycks & Gimpel 2016); ``approximate='tanh'`` uses
    :math:`0.5x(1 + \tanh(\sqrt{2/\pi}(x + 0.044715x^3)))`. Equals ``nn.GELU``."""

    name = "gelu"

    def __init__(self, approximate: str = "none") -> None:
        super().__init__(approximate=approximate)


class SiLU(Activation):
    r"""SiLU / Swish: :math:`f(x) = x\,\sigma(\beta x)` (Elfwing et al. 2018; Ramachandran et al.
    2017). With ``learnable=True``, :math:`\beta` is an ``nn.Parameter`` (Swish-beta).
    ``beta=1`` equals ``nn.SiLU``."""

    name = "silu"

    def __init__(self, beta: float = 1.0, learnable: bool = False) -> None:
        super().__init__(beta=beta, learnable=learnable)
        if learnable:
            self.beta = nn.Parameter(torch.tensor(float(beta)))

    def _learned_names(self) -> frozenset[str]:
        return frozenset({"beta"}) if self.params["learnable"] else frozenset()

    def forward(self, x: Tensor) -> Tensor:
        beta = self.beta if self.params["learnable"] else self.params["beta"]
        return AF.silu(x, beta)

    def derivative(self, x: Tensor) -> Tensor:
        beta = self.beta.detach() if self.params["learnable"] else self.params["beta"]
        return AF.d_silu(x, beta)


class Mish(Activation):
    r""":math:`f(x) = x \tanh(\mathrm{softplus}(x))` (Misra 2019). Equals ``nn.Mish``."""

    name = "mish"

    def __init__(self) -> None:
        super().__init__()


class Softplus(Activation):
    r""":math:`f(x) = \frac{1}{\beta}\log(1 + e^{\beta x})`, linear where :math:`\beta x >`
    ``threshold`` (there the two differ by at most :math:`\log(1 + e^{-20})/\beta \approx 2\cdot
    10^{-9}/\beta`). Stable for every finite input. Equals ``nn.Softplus``."""

    name = "softplus"

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__(beta=beta, threshold=threshold)


class Softsign(Activation):
    r""":math:`f(x) = x / (1 + |x|)` (Bergstra et al. 2009): like tanh, saturating polynomially."""

    name = "softsign"

    def __init__(self) -> None:
        super().__init__()


class HardSwish(Activation):
    r""":math:`f(x) = x\,\mathrm{ReLU6}(x + 3) / 6` (Howard et al. 2019, MobileNetV3).
    Equals ``nn.Hardswish``; at the kinks :math:`f'(-3) = 0` and :math:`f'(3) = 1`, as PyTorch's
    backward."""

    name = "hard_swish"

    def __init__(self) -> None:
        super().__init__()


class LogSigmoid(Activation):
    r""":math:`f(x) = \log\sigma(x) = -\mathrm{softplus}(-x)`. Equals ``nn.LogSigmoid``."""

    name = "log_sigmoid"

    def __init__(self) -> None:
        super().__init__()


class Maxout(Activation):
    r"""Maxout (Goodfellow et al. 2013): :math:`y_j = \max_{i < k} x_{jk + i}` along ``dim``,
    mapping ``n * k`` features to ``n``.

    Shape: input ``(*, n*k, *)`` -> output ``(*, n, *)`` (``dim=-1`` for MLPs, ``dim=1`` for conv
    feature maps). Place after ``nn.Linear(in_features, n * k)`` for the maxout unit.
    """

    name = "maxout"

    def __init__(self, k: int = 2, dim: int = -1) -> None:
        super().__init__(k=k, dim=dim)


class Softmax(Activation):
    r""":math:`f(x)_i = e^{x_i} / \sum_j e^{x_j}` along ``dim``; computed as
    :math:`e^{x_i - \max x}/\ldots`, so stable for every finite input. Equals ``nn.Softmax``."""

    name = "softmax"

    def __init__(self, dim: int = -1) -> None:
        super().__init__(dim=dim)


class LogSoftmax(Activation):
    r""":math:`f(x)_i = x_i - \log\sum_j e^{x_j}` along ``dim``, stable for every finite input.
    Equals ``nn.LogSoftmax``."""

    name = "log_softmax"

    def __init__(self, dim: int = -1) -> None:
        super().__init__(dim=dim)
