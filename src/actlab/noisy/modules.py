"""``nn.Module`` forms of the noisy units: catalog modules like any other.

``actlab.get("nan_hard_tanh", c=1.0)`` builds one; ``actlab.noisy.NoiseAnnealer`` drives their
``c``. Noise is drawn only in ``train()`` mode, from ``generator`` (default: the global RNG, so
``torch.manual_seed`` makes runs reproducible). ``p`` is an ``nn.Parameter`` of
``num_parameters`` values (one shared, or one per unit along dim 1 of the input, as ``nn.PReLU``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from actlab.catalog.modules import StochasticActivation


class NoisyActivation(StochasticActivation):
    """Base class of the noisy units (NAN, NANI, NANIS, NANIL of Gulcehre et al. 2016).

    Args:
        generator: optional ``torch.Generator`` for the noise.
        **params: the entry's parameters (``actlab.spec(name).params`` lists them with their valid
            ranges): ``c`` (noise scale, annealed), ``noise`` (``"normal"`` or ``"half_normal"``),
            ``eval_noise`` (``"expectation"`` or ``"none"``), and for NAN ``alpha``, for NAN and
            NANIL ``p`` (initial value), ``p_init`` (``"constant"``: every p starts at ``p``;
            ``"uniform"``: U[-|p|, |p|]) and ``num_parameters``.
    """

    kind: ClassVar[str] = ""
    unit: ClassVar[str] = ""
    learns_p: ClassVar[bool] = False

    def __init__(self, generator: torch.Generator | None = None, **params: Any) -> None:
        super().__init__(generator=generator, **params)
        if self.learns_p:
            n, p0 = self.params["num_parameters"], self.params["p"]
            init = torch.full((n,), float(p0))
            if self.params["p_init"] == "uniform":
                init.uniform_(-abs(p0), abs(p0))
            self.p = nn.Parameter(init)

    def _learned_names(self) -> frozenset[str]:
        return frozenset({"p"}) if self.learns_p else frozenset()

    # -- the noise level, driven by NoiseAnnealer ---------------------------------------------
    @property
    def c(self) -> float:
        """The noise scale c (validated on assignment)."""
        return self.params["c"]

    @c.setter
    def c(self, value: float) -> None:
        param = next(q for q in self.spec.params if q.name == "c")
        self.params["c"] = param.validate(value, self.name)

    def _call_params(self) -> dict[str, Any]:
        return {**self.params, "p": self.p} if self.learns_p else self.params

    def forward(self, x: Tensor) -> Tensor:
        return self._fn(x, **self._call_params(), training=self.training, generator=self.generator)

    def derivative(self, x: Tensor) -> Tensor:
        """Closed-form derivative of the eval form, at the learned p."""
        params = {**self.params, "p": self.p.detach()} if self.learns_p else self.params
        return self.spec.derivative(x, **params)


class NAN(NoisyActivation):
    r"""Noise added to the output: :math:`\alpha h + (1 - \alpha)u + d(x)\,c(\sigma(p\Delta) -
    \tfrac12)^2\xi`, ``p`` learned. Gradient :math:`(1 - \alpha)u'` plus the noise term's where
    :math:`h` is saturated, instead of 0."""

    kind = "nan"
    learns_p = True


class NANI(NoisyActivation):
    r"""Noise added to the input: :math:`h(x + c\xi)`."""

    kind = "nani"


class NANIS(NoisyActivation):
    r"""Input noise only where saturated: :math:`h(x + c\xi)` beyond the thresholds, :math:`h(x)`
    elsewhere."""

    kind = "nanis"


class NANIL(NoisyActivation):
    r"""Input noise with a learned, input-dependent scale:
    :math:`h(x + c\,\mathrm{softplus}(p|\Delta(x)|)\xi)`."""

    kind = "nanil"
    learns_p = True


class NANHardTanh(NAN):
    """NAN with hard_tanh (defaults alpha=1.15, c=0.5, normal noise: the authors' NTanhP)."""

    name = "nan_hard_tanh"
    unit = "hard_tanh"


class NANHardSigmoid(NAN):
    """NAN with hard_sigmoid, slope 1/4 (defaults alpha=1.1, c=0.15, half-normal noise: the
    authors' NSigmoidP)."""

    name = "nan_hard_sigmoid"
    unit = "hard_sigmoid"


class NANReLU(NAN):
    """NAN with relu (u(x) = x; default alpha=0.9 keeps the eval form a leaky ReLU of slope 0.1)."""

    name = "nan_relu"
    unit = "relu"


class NANIHardTanh(NANI):
    """NANI with hard_tanh (default c=0.05, the authors' NHardTanh)."""

    name = "nani_hard_tanh"
    unit = "hard_tanh"


class NANIHardSigmoid(NANI):
    """NANI with hard_sigmoid (default c=0.05, the authors' NHardSigmoid)."""

    name = "nani_hard_sigmoid"
    unit = "hard_sigmoid"


class NANIReLU(NANI):
    """NANI with relu (default c=0.05, the authors' NReLU)."""

    name = "nani_relu"
    unit = "relu"


class NANISHardTanh(NANIS):
    """NANIS with hard_tanh (default c=1; the authors' NHardTanhSat uses 0.25)."""

    name = "nanis_hard_tanh"
    unit = "hard_tanh"


class NANISHardSigmoid(NANIS):
    """NANIS with hard_sigmoid (default c=1; the mask multiplies, unlike NHardSigmoidSat)."""

    name = "nanis_hard_sigmoid"
    unit = "hard_sigmoid"


class NANISReLU(NANIS):
    """NANIS with relu: noise on the input where x < 0 (default c=1)."""

    name = "nanis_relu"
    unit = "relu"


class NANILHardTanh(NANIL):
    """NANIL with hard_tanh (default c=0.25, the authors' NTanhPInp without the 1/|xi|)."""

    name = "nanil_hard_tanh"
    unit = "hard_tanh"


class NANILHardSigmoid(NANIL):
    """NANIL with hard_sigmoid (default c=0.25, the authors' NSigmoidPInp without the 1/|xi|)."""

    name = "nanil_hard_sigmoid"
    unit = "hard_sigmoid"


class NANILReLU(NANIL):
    """NANIL with relu (default c=0.25)."""

    name = "nanil_relu"
    unit = "relu"


MODULES: list[type[NoisyActivation]] = [
    NANHardTanh, NANHardSigmoid, NANReLU,
    NANIHardTanh, NANIHardSigmoid, NANIReLU,
    NANISHardTanh, NANISHardSigmoid, NANISReLU,
    NANILHardTanh, NANILHardSigmoid, NANILReLU,
]
