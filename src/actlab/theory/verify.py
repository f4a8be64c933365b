r"""Check mean-field predictions against measured random networks.

* :func:`propagation` - forward and backward passes through one random deep net: the measured
  pre-activation variance :math:`q^l` against the length map iterated from :math:`q^1`, and the
  measured ratio :math:`\|\delta^{l+1}\|^2 / \|\delta^l\|^2` of squared gradient norms (gradients
  with respect to the pre-activations, for a random linear read-out) against
  :math:`1/(\sigma_w^2 E[\phi'(\sqrt{q^l} z)^2])`, which is :math:`1/\chi_1` once
  :math:`q^l = q^*` (Schoenholz et al. 2017, Sec. 5).
* :func:`jacobian_spectrum` - singular values of the input-output Jacobian
  :math:`J = D_L W_L \cdots D_1 W_1`, :math:`D_l = \mathrm{diag}\,\phi'(h^l)`, with Gaussian or
  orthogonal weights (Pennington, Schoenholz & Ganguli 2017, "Resurrecting the sigmoid in deep
  learning through dynamical isometry"). Free probability predicts the first two moments of the
  eigenvalues :math:`\lambda = s^2` of :math:`JJ^T`: the S-transform is multiplicative, so the
  normalised variance adds up over the free factors,

  .. math::
      E[\lambda] = \prod_l \sigma_w^2 \mu_1(q^l), \qquad
      \frac{\mathrm{Var}\,\lambda}{E[\lambda]^2} = \sum_l \left(\frac{\mu_2(q^l)}{\mu_1(q^l)^2} - 1
      \right) + L\,v_W,

  with :math:`\mu_k(q) = E[\phi'(\sqrt q z)^{2k}]`, :math:`v_W = 1` for square Gaussian weights
  (Marchenko-Pastur) and 0 for orthogonal ones. For relu :math:`\mu_2/\mu_1^2 - 1 = 1` at every q:
  the spread grows like L whatever the weights, so relu nets cannot be dynamically isometric;
  for tanh it vanishes as :math:`q^* \to 0`, so a critical tanh net with small q* and orthogonal
  weights is.

Everything runs in float64 on the CPU; sizes are small enough for a laptop (width 1000 x depth 60
takes about a second).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor

from actlab.theory.gauss import DTYPE, expect
from actlab.theory.meanfield import MeanField

Weights = Literal["gaussian", "orthogonal"]
WEIGHTS = ("gaussian", "orthogonal")


def _check_size(width: int, depth: int) -> None:
    for name, v in (("width", width), ("depth", depth)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"theory: {name}={v!r} is invalid; valid: an integer >= 1")


def _weight(n: int, sigma_w2: float, weights: str, gen: torch.Generator) -> Tensor:
    """An n x n weight matrix with E[W_ij^2] = sigma_w2 / n."""
    g = torch.randn(n, n, dtype=DTYPE, generator=gen)
    if weights == "gaussian":
        return g * math.sqrt(sigma_w2 / n)
    if weights == "orthogonal":
        q, r = torch.linalg.qr(g)
        q = q * torch.sign(torch.diagonal(r))  # Haar-distributed (Mezzadri 2007)
        return q * math.sqrt(sigma_w2)
    raise ValueError(f"theory: weights={weights!r} is invalid; valid: {', '.join(WEIGHTS)}")


# ---------------------------------------------------------------------------------------------
# 3(a): q^l and gradient ratios in a random net
# ---------------------------------------------------------------------------------------------
@dataclass
class PropagationCheck:
    """Measured vs predicted signal propagation in one random net (index l = layer 1..depth).

    Attributes:
        q_measured, q_predicted: mean squared pre-activation per layer.
        ratio_measured: ``|delta^{l+1}|^2 / |delta^l|^2`` for l = 1..depth-1 (summed over inputs).
        ratio_predicted: ``1 / (sigma_w^2 E[phi'(sqrt(q^l) z)^2])`` with the predicted q^l.
        q_star, chi1: the fixed point and chi_1 there (``1/chi1`` is the asymptotic ratio).
    """

    activation: str
    sigma_w2: float
    sigma_b2: float
    width: int
    depth: int
    q_measured: Tensor
    q_predicted: Tensor
    ratio_measured: Tensor
    ratio_predicted: Tensor
    q_star: float
    chi1: float

    def _skip(self) -> int:
        return min(10, self.depth // 3)

    def mean_ratio(self, skip: int | None = None) -> tuple[float, float]:
        """Geometric means of the measured and predicted gradient ratios over layers ``skip``
        onwards (default: after the first min(10, depth/3) layers, the transient of q^l)."""
        k = self._skip() if skip is None else skip
        m = self.ratio_measured[k:].log().mean().exp()
        p = self.ratio_predicted[k:].log().mean().exp()
        return float(m), float(p)

    def mean_q(self, skip: int | None = None) -> tuple[float, float]:
        """Means of the measured and predicted q^l over layers ``skip`` onwards: a single layer's
        q fluctuates by several percent at width 1000 (in the ordered phase all inputs collapse
        onto one vector), the mean over layers much less."""
        k = self._skip() if skip is None else skip
        return float(self.q_measured[k:].mean()), float(self.q_predicted[k:].mean())

    def summary(self) -> dict[str, Any]:
        m, p = self.mean_ratio()
        qm, qp = self.mean_q()
        return {
            "activation": self.activation, "sigma_w2": self.sigma_w2, "sigma_b2": self.sigma_b2,
            "width": self.width, "depth": self.depth,
            "q_last_measured": float(self.q_measured[-1]), "q_last_predicted": float(self.q_predicted[-1]),
            "q_mean_measured": qm, "q_mean_predicted": qp, "q_star": self.q_star,
            "grad_ratio_measured": m, "grad_ratio_predicted": p,
            "inv_chi1": 1.0 / self.chi1 if self.chi1 > 0 else math.inf,
        }


def propagation(act: Any, sigma_w2: float, sigma_b2: float = 0.0, width: int = 1000, depth: int = 60,
                q0: float = 1.0, n_inputs: int = 4, weights: Weights = "gaussian", seed: int = 0,
                **params: Any) -> PropagationCheck:
    """Propagate ``n_inputs`` random inputs (first-layer pre-activations ~ N(0, q0)) through a
    random net of ``depth`` layers of ``width`` units (``h^{l+1} = W phi(h^l) + b``,
    ``W ~ N(0, sigma_w2/width)``, ``b ~ N(0, sigma_b2)``), backpropagate a random linear read-out
    of the last layer, and compare with the mean-field prediction."""
    _check_size(width, depth)
    _check_size(n_inputs, 1)
    mf = MeanField(act, **params)
    f, df = mf.phi.f, mf.phi.df
    gen = torch.Generator().manual_seed(seed)
    h = torch.randn(n_inputs, width, dtype=DTYPE, generator=gen) * math.sqrt(q0)
    hs, Ws = [h], []
    for _ in range(depth - 1):
        W = _weight(width, sigma_w2, weights, gen)
        b = torch.randn(width, dtype=DTYPE, generator=gen) * math.sqrt(sigma_b2)
        h = f(h) @ W.T + b
        Ws.append(W)
        hs.append(h)
    v = torch.randn(width, dtype=DTYPE, generator=gen) / math.sqrt(width)
    delta = df(hs[-1]) * v
    norms = [delta.pow(2).sum()]
    for layer in range(depth - 2, -1, -1):
        delta = df(hs[layer]) * (delta @ Ws[layer])
        norms.append(delta.pow(2).sum())
    norms_t = torch.stack(norms[::-1])  # layer 1..depth
    q_meas = torch.stack([x.pow(2).mean() for x in hs])
    q_pred = [torch.tensor(q0, dtype=DTYPE)]
    for _ in range(depth - 1):
        q_pred.append(mf.length_map(q_pred[-1], sigma_w2, sigma_b2))
    q_pred_t = torch.stack(q_pred)
    ratio_pred = 1.0 / mf.chi1(sigma_w2, q_pred_t[:-1])
    qs = float(mf.q_star(sigma_w2, sigma_b2, q0))
    return PropagationCheck(mf.phi.label, float(sigma_w2), float(sigma_b2), width, depth, q_meas,
                            q_pred_t, norms_t[1:] / norms_t[:-1], ratio_pred, qs,
                            float(mf.chi1(sigma_w2, qs)))


# ---------------------------------------------------------------------------------------------
# 3(c): dynamical isometry
# ---------------------------------------------------------------------------------------------
@dataclass
class Spectrum:
    """Singular values of one net's input-output Jacobian and the free-probability prediction of
    the mean and normalised variance of their squares."""

    activation: str
    weights: str
    sigma_w2: float
    sigma_b2: float
    q_star: float
    width: int
    depth: int
    singular_values: Tensor
    mean_sq_predicted: float
    nvar_sq_predicted: float

    @property
    def mean_sq(self) -> float:
        return float(self.singular_values.pow(2).mean())

    @property
    def nvar_sq(self) -> float:
        """Measured ``Var(s^2) / E[s^2]^2``."""
        s2 = self.singular_values.pow(2)
        return float(s2.var(unbiased=False) / s2.mean() ** 2)

    @property
    def label(self) -> str:
        return f"{self.activation}, {self.weights}"


def jacobian_spectrum(act: Any, sigma_w2: float, sigma_b2: float = 0.0, width: int = 256,
                      depth: int = 32, weights: Weights = "orthogonal", q0: float | None = None,
                      seed: int = 0, **params: Any) -> Spectrum:
    """Singular values of ``J = d x^depth / d x^0 = D_L W_L ... D_1 W_1`` (``x^l = phi(h^l)``,
    ``D_l = diag phi'(h^l)``) for one input whose pre-activations ``h^0`` have variance ``q0``
    (default: the fixed point q*, so every layer sits at q*)."""
    _check_size(width, depth)
    if weights not in WEIGHTS:
        raise ValueError(f"theory: weights={weights!r} is invalid; valid: {', '.join(WEIGHTS)}")
    mf = MeanField(act, **params)
    f, df = mf.phi.f, mf.phi.df
    qs = float(mf.q_star(sigma_w2, sigma_b2))
    if q0 is None:
        if not math.isfinite(qs) or qs <= 0:
            raise ValueError(f"theory: {mf.phi.label} at sigma_w2={sigma_w2:g}, sigma_b2={sigma_b2:g} "
                             f"has q*={qs:g}; pass q0 (the input variance) explicitly")
        q0 = qs
    gen = torch.Generator().manual_seed(seed)
    h = torch.randn(width, dtype=DTYPE, generator=gen) * math.sqrt(q0)
    J = torch.eye(width, dtype=DTYPE)
    qs_pred = []
    q = torch.tensor(q0, dtype=DTYPE)
    for _ in range(depth):
        W = _weight(width, sigma_w2, weights, gen)
        b = torch.randn(width, dtype=DTYPE, generator=gen) * math.sqrt(sigma_b2)
        h = W @ f(h) + b
        J = df(h)[:, None] * (W @ J)
        q = mf.length_map(q, sigma_w2, sigma_b2)
        qs_pred.append(q)
    sv = torch.linalg.svdvals(J)
    qt = torch.stack(qs_pred)
    mu1 = expect(lambda x: df(x) ** 2, qt, mf.phi.kinks, mf.rule)
    mu2 = expect(lambda x: df(x) ** 4, qt, mf.phi.kinks, mf.rule)
    mean_pred = float((sigma_w2 * mu1).prod())
    v_w = 1.0 if weights == "gaussian" else 0.0
    nvar_pred = float((mu2 / mu1**2 - 1).sum()) + depth * v_w
    return Spectrum(mf.phi.label, weights, float(sigma_w2), float(sigma_b2), qs, width, depth, sv,
                    mean_pred, nvar_pred)


def dynamical_isometry(width: int = 256, depth: int = 32, q_star: float = 1.0 / 64.0,
                       seed: int = 0) -> list[Spectrum]:
    """The comparison of Pennington et al. 2017: tanh at the critical point with fixed point
    ``q_star`` and relu at its critical point (sigma_w^2 = 2, sigma_b^2 = 0), each with orthogonal
    and Gaussian weights."""
    from actlab.theory.meanfield import critical_init

    ci = critical_init("tanh", q_star=q_star)
    out = []
    for weights in ("orthogonal", "gaussian"):
        out.append(jacobian_spectrum("tanh", ci.sigma_w2, ci.sigma_b2, width, depth, weights, seed=seed))
    for weights in ("orthogonal", "gaussian"):
        out.append(jacobian_spectrum("relu", 2.0, 0.0, width, depth, weights, q0=1.0, seed=seed))
    return out
