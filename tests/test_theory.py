"""actlab.theory: Gaussian quadrature, mean-field maps and their reference values, measurements.

Reference values: Schoenholz et al. 2017 ("Deep information propagation", Fig. 1 and text) for
tanh; closed forms for relu (arc-cosine kernel, Cho & Saul 2009) and erf (Williams 1997).
"""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

import actlab
from actlab import theory
from actlab.catalog.measure import gaussian_mean
from actlab.theory import Composite, Hermite, expect, expect2

pytestmark = pytest.mark.usefixtures("torch_single_thread")

SQRT_PI = math.sqrt(math.pi)


def erf_prime(x: torch.Tensor) -> torch.Tensor:
    return 2.0 / SQRT_PI * torch.exp(-x * x)


def step(x: torch.Tensor) -> torch.Tensor:
    return (x > 0).to(x.dtype)


# ---------------------------------------------------------------------------------------------
# quadrature
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("q", [0.0, 1e-10, 1e-3, 0.3, 1.0, 7.0, 1e4, 1e10])
def test_expect_1d_closed_forms(q):
    relu2 = expect(lambda x: torch.relu(x) ** 2, q, kinks=(0.0,))
    assert float(relu2) == pytest.approx(q / 2, rel=1e-13, abs=1e-300)
    erf2 = expect(lambda x: torch.erf(x) ** 2, q)
    assert float(erf2) == pytest.approx(2 / math.pi * math.asin(2 * q / (1 + 2 * q)), rel=1e-12, abs=1e-300)
    d2 = expect(lambda x: erf_prime(x) ** 2, q)
    assert float(d2) == pytest.approx(4 / math.pi / math.sqrt(1 + 4 * q), rel=1e-12)


def test_expect_is_vectorised_and_matches_scalar_calls():
    q = torch.tensor([[0.1, 1.0], [3.0, 50.0]], dtype=torch.float64)
    v = expect(torch.tanh, q, mean=torch.tensor([0.5, -1.0], dtype=torch.float64))
    assert v.shape == (2, 2)
    assert float(v[1, 0]) == pytest.approx(float(expect(torch.tanh, 3.0, mean=0.5)), rel=1e-14)


@pytest.mark.parametrize(("name", "q"), [("tanh", 5.0), ("hard_tanh", 0.7), ("selu", 2.0), ("softsign", 3.0),
                                         ("hard_swish", 4.0)])
def test_expect_1d_matches_dense_trapezoid(name, q):
    """The composite rule against a 4-million-point trapezoid rule, for continuous integrands
    (error O(h^2) ~ 1e-10 at kinks; at a jump the trapezoid rule is only O(h) ~ 1e-6, so
    integrands with jumps are checked against closed forms below)."""
    phi = theory.activation(name)
    s = math.sqrt(q)
    fns = [lambda x: phi.f(x) ** 2]
    if name in ("tanh", "softsign", "selu"):  # f f' x continuous (selu' jumps where x = 0)
        fns.append(lambda x: phi.f(x) * phi.df(x) * x)
    if name in ("tanh", "softsign"):  # f' continuous
        fns.append(lambda x: phi.df(x) ** 2)
    for fn in fns:
        ref = gaussian_mean(lambda z, fn=fn: fn(s * z), n=4_000_001)
        assert float(expect(fn, q, phi.kinks)) == pytest.approx(ref, rel=1e-8, abs=1e-10)


def _Phi(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2))


@pytest.mark.parametrize("q", [0.05, 0.7, 2.0, 30.0])
def test_expect_1d_discontinuous_derivatives_closed_forms(q):
    """E[f'(sqrt(q) z)^2] for f' with jumps, against closed forms."""
    s = math.sqrt(q)
    cases = {
        "hard_tanh": math.erf(1 / math.sqrt(2 * q)),  # P(|x| < 1)
        "relu6": _Phi(6 / s) - 0.5,  # P(0 < x < 6)
        # selu'^2 = lambda^2 (1 {x > 0} + alpha^2 e^{2x} 1 {x < 0})
        "selu": actlab.functional.SELU_SCALE**2 * (
            0.5 + actlab.functional.SELU_ALPHA**2 * math.exp(2 * q) * _Phi(-2 * s)),
    }
    for name, ref in cases.items():
        phi = theory.activation(name)
        assert float(expect(lambda x, phi=phi: phi.df(x) ** 2, q, phi.kinks)) == pytest.approx(ref, rel=1e-12)


@pytest.mark.parametrize("q", [0.01, 1.0, 10.0, 1e4])
@pytest.mark.parametrize("c", [-0.9, 0.0, 0.3, 0.99, 1 - 1e-6, 1.0])
def test_expect_2d_closed_forms(q, c):
    theta = math.acos(c)
    r = math.sqrt(max(1 - c * c, 0.0))
    relu = expect2(torch.relu, torch.relu, q, c, (0.0,), (0.0,))
    assert float(relu) == pytest.approx(q / (2 * math.pi) * (r + (math.pi - theta) * c), rel=1e-11)
    # the step function: the inner integral is a steep step in u1 when c -> 1
    st = expect2(step, step, q, c, (0.0,), (0.0,))
    assert float(st) == pytest.approx((math.pi - theta) / (2 * math.pi), abs=1e-12)
    e = expect2(torch.erf, torch.erf, q, c)
    assert float(e) == pytest.approx(2 / math.pi * math.asin(2 * q * c / (1 + 2 * q)), abs=1e-13)
    d = expect2(erf_prime, erf_prime, q, c)
    ref = 4 / math.pi / math.sqrt((1 + 2 * q) ** 2 - 4 * q * q * c * c)
    assert float(d) == pytest.approx(ref, rel=1e-11)


def test_expect2_pairs_share_nodes_and_broadcast():
    q = torch.tensor([0.5, 2.0], dtype=torch.float64)
    c = torch.tensor([0.2, 0.8], dtype=torch.float64)
    both = expect2([torch.tanh, torch.sin], [torch.tanh, torch.cos], q, c)
    assert both.shape == (2, 2)
    assert float(both[0, 1]) == pytest.approx(float(expect2(torch.tanh, torch.tanh, 2.0, 0.8)), rel=1e-14)


def test_hermite_is_fast_for_smooth_and_slow_for_kinks():
    """Why the default rule splits at kinks: Gauss-Hermite converges geometrically for tanh but
    only algebraically once f' jumps (selu' at 0)."""
    tanh2 = float(expect(lambda x: torch.tanh(x) ** 2, 1.0))
    hermite = float(expect(lambda x: torch.tanh(x) ** 2, 1.0, rule=Hermite(64)))
    assert hermite == pytest.approx(tanh2, abs=1e-8)
    phi = theory.activation("selu")
    exact = float(expect(lambda x: phi.df(x) ** 2, 1.0, phi.kinks))
    err64 = abs(float(expect(lambda x: phi.df(x) ** 2, 1.0, rule=Hermite(64))) - exact)
    err256 = abs(float(expect(lambda x: phi.df(x) ** 2, 1.0, rule=Hermite(256))) - exact)
    assert err64 > 1e-3 and 1e-4 < err256 < err64
    finer = Composite(order=20, z_panel=0.5, x_panel=0.25)
    assert float(expect(lambda x: phi.df(x) ** 2, 1.0, phi.kinks, finer)) == pytest.approx(exact, rel=1e-13)


def test_quadrature_bad_input():
    with pytest.raises(ValueError, match="variance"):
        expect(torch.tanh, -1.0)
    with pytest.raises(ValueError, match="finite"):
        expect(torch.tanh, math.inf)
    with pytest.raises(ValueError, match="-1 <= c <= 1"):
        expect2(torch.tanh, torch.tanh, 1.0, 1.5)
    with pytest.raises(ValueError, match="as many"):
        expect2([torch.tanh, torch.sin], [torch.tanh], 1.0, 0.5)
    with pytest.raises(ValueError, match="Hermite"):
        Hermite(1000)
    with pytest.raises(ValueError, match="x_growth"):
        Composite(x_growth=1.0)


# ---------------------------------------------------------------------------------------------
# reference values
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("sigma_b2", "expected"), [(0.01, 1.424), (0.05, 1.761), (0.1, 1.986)])
def test_tanh_critical_line(sigma_b2, expected):
    sw = theory.critical_sigma_w2("tanh", sigma_b2)
    assert sw == pytest.approx(expected, abs=6e-4)
    assert theory.chi1("tanh", sw, sigma_b2) == pytest.approx(1.0, abs=1e-10)


def test_capped_units_are_critical_at_the_q_to_0_limit_not_at_a_huge_false_point():
    # hard_tanh / relu6 at sigma_b^2 = 0: critical where sigma_w^2 phi'(0)^2 = 1 (their q* -> 0 only
    # exponentially slowly); 1 / E[phi'^2](q = 1e24) (about 1e12) is not a critical point
    assert theory.critical_sigma_w2("hard_tanh", 0.0) == pytest.approx(1.0, abs=1e-9)
    assert theory.critical_sigma_w2("relu6", 0.0) == pytest.approx(2.0, abs=1e-9)
    assert theory.critical_sigma_w2("hard_tanh", 0.01) == pytest.approx(1.052061, abs=1e-5)
    assert theory.critical_sigma_w2("relu", 0.05) == pytest.approx(2.0)  # q* = inf: still found
    assert theory.analyze("hard_tanh", 1.2533e12, 0.0).phase != "critical"


def test_critical_line_vectorised():
    sb = torch.tensor([0.0, 0.01, 0.05, 0.1], dtype=torch.float64)
    line = theory.critical_line("tanh", sb)
    assert line.shape == (4,)
    assert float(line[0]) == pytest.approx(1.0, abs=1e-9)  # q* -> 0: chi_1 = sigma_w^2 tanh'(0)^2
    assert bool((line[1:] > line[:-1]).all())


@pytest.mark.parametrize(("sigma_w2", "xi_c"), [(1.0, 3.6), (1.25, 6.8), (1.5, 15.8)])
def test_tanh_xi_c(sigma_w2, xi_c):
    r = theory.analyze("tanh", sigma_w2, 0.05)
    assert r.phase == "ordered"
    assert r.xi_c == pytest.approx(xi_c, abs=0.05)
    assert r.max_depth == pytest.approx(6 * r.xi_c)


def test_relu_and_he_init():
    assert theory.critical_sigma_w2("relu", 0.0) == pytest.approx(2.0, abs=1e-12)
    r = theory.analyze("relu", 2.0, 0.0)
    assert r.phase == "critical" and r.chi1 == pytest.approx(1.0, abs=1e-14)
    assert r.q_star == pytest.approx(1.0, abs=1e-14)  # every q is a fixed point: it stays at q0
    assert theory.q_star("relu", 2.0, 0.0, q0=3.7) == pytest.approx(3.7, rel=1e-14)
    # sigma_b^2 > 0: q* = sigma_b^2 / (1 - sigma_w^2/2) below, unbounded at and above 2
    assert theory.q_star("relu", 1.5, 0.1) == pytest.approx(0.1 / 0.25, rel=1e-12)
    assert theory.critical_sigma_w2("relu", 0.1) == pytest.approx(2.0, abs=1e-12)
    up = theory.analyze("relu", 2.5, 0.0)
    assert up.phase == "unbounded" and math.isinf(up.q_star) and up.chi1 == pytest.approx(1.25)
    assert up.max_depth == pytest.approx(6 / math.log(1.25))
    down = theory.analyze("relu", 1.0, 0.0)  # q* = 0, chi_1 is the q -> 0+ limit (not relu'(0) = 0)
    assert down.q_star == 0.0 and down.chi1 == pytest.approx(0.5)


def test_leaky_relu_critical_line_closed_form():
    a = 0.2
    assert theory.critical_sigma_w2("leaky_relu", 0.0, negative_slope=a) == pytest.approx(2 / (1 + a * a),
                                                                                          rel=1e-12)


def test_selu_lecun_fixed_point():
    r = theory.analyze("selu", 1.0, 0.0)
    assert r.q_star == pytest.approx(1.0, abs=1e-12)
    phi = theory.activation("selu")
    assert float(expect(phi.f, r.q_star, phi.kinks)) == pytest.approx(0.0, abs=1e-12)  # mean 0
    # mean 0 and sigma_b^2 = 0: the correlation map is odd-like at 0, c* = 0 (chaotic side)
    assert r.phase == "chaotic" and r.c_star == pytest.approx(0.0, abs=1e-12)
    assert r.chi1 == pytest.approx(1.0715749924557993, rel=1e-10)


def test_mean_field_on_every_elementwise_entry():
    for name in actlab.names():
        if not actlab.spec(name).properties().elementwise:
            with pytest.raises(ValueError, match="elementwise"):
                theory.activation(name)
            continue
        mf = theory.MeanField(name)
        q = torch.tensor([0.3, 1.0], dtype=torch.float64)
        v, d = mf.V(q), mf.mean_df2(q)
        assert torch.isfinite(v).all() and torch.isfinite(d).all() and (v >= 0).all(), name


# ---------------------------------------------------------------------------------------------
# self-consistency of the maps
# ---------------------------------------------------------------------------------------------
def test_xi_q_matches_iterated_length_map():
    """|q^l - q*| decays like exp(-l / xi_q) (checks the Stein-lemma form of dV/dq)."""
    for name, sw, sb in (("tanh", 1.3, 0.05), ("elu", 1.2, 0.1), ("softsign", 1.5, 0.2)):
        r = theory.analyze(name, sw, sb)
        mf = theory.MeanField(name)
        q = torch.tensor(r.q_star * 1.05, dtype=torch.float64)
        errs = []
        for _ in range(6):
            q = mf.length_map(q, sw, sb)
            errs.append(float(q) - r.q_star)
        rate = errs[-1] / errs[-2]
        assert rate == pytest.approx(math.exp(-1 / r.xi_q), rel=2e-3), name


def test_chaotic_fixed_point_and_xi_c_match_iterated_correlation_map():
    for name, sw, sb in (("tanh", 2.5, 0.05), ("tanh", 4.0, 0.2), ("selu", 1.5, 0.1)):
        r = theory.analyze(name, sw, sb)
        assert r.phase == "chaotic" and 0 <= r.c_star < 1
        mf = theory.MeanField(name)
        c = torch.tensor(r.c_star + 0.02, dtype=torch.float64)
        errs = []
        for _ in range(4):
            c = mf.correlation_map(c, r.q_star, sw, sb)
            errs.append(float(c) - r.c_star)
        assert errs[-1] / errs[-2] == pytest.approx(r.chi_c, rel=5e-3), name
        # c* is a fixed point, attracting from both sides, and the only one in [0, 1)
        cs = torch.tensor([r.c_star, r.c_star / 2, (1 + r.c_star) / 2], dtype=torch.float64)
        g = mf.correlation_map(cs, r.q_star, sw, sb) - cs
        assert float(g[0]) == pytest.approx(0.0, abs=1e-13), name
        assert float(g[1]) > 0 > float(g[2]) or (r.c_star == 0 and float(g[2]) < 0), name


def test_phases_and_depth_scales():
    ordered = theory.analyze("tanh", 1.0, 0.05)
    assert ordered.c_star == 1.0 and ordered.chi_c == ordered.chi1
    assert ordered.gradient_ratio == pytest.approx(1.3175, abs=1e-4)
    assert ordered.xi_grad == pytest.approx(ordered.xi_c)
    crit = theory.analyze("tanh", theory.critical_sigma_w2("tanh", 0.05), 0.05)
    assert crit.phase == "critical" and math.isinf(crit.xi_c) and math.isinf(crit.max_depth)
    dead = theory.analyze("tanh", 0.8, 0.0)
    assert dead.q_star == 0.0 and dead.chi1 == pytest.approx(0.8) and dead.phase == "ordered"
    assert theory.analyze("step", 1.0, 0.1).max_depth == 0.0  # no gradient passes a step
    assert theory.max_trainable_depth("tanh", 1.0, 0.05) == pytest.approx(ordered.max_depth)
    assert theory.depth_scales("tanh", 1.0, 0.05)["xi_c"] == pytest.approx(ordered.xi_c)


def test_gelu_jumps_instead_of_crossing():
    """At sigma_b^2 = 0 gelu's q* jumps from 0 to infinity (an unstable fixed point passes q0):
    chi_1 jumps over 1 and there is no critical point."""
    assert math.isnan(theory.critical_sigma_w2("gelu", 0.0))
    with pytest.raises(ValueError, match="no critical point"):
        theory.critical_init("gelu", sigma_b2=0.0)
    assert theory.analyze("gelu", 2.3, 0.0).q_star == 0.0
    assert math.isinf(theory.analyze("gelu", 2.4, 0.0).q_star)
    sw = theory.critical_sigma_w2("gelu", 0.3)
    assert theory.chi1("gelu", sw, 0.3) == pytest.approx(1.0, abs=1e-9)


def test_critical_init_by_q_star():
    ci = theory.critical_init("tanh", q_star=1 / 64)
    assert ci.sigma_b2 > 0 and ci.sigma_w2 == pytest.approx(1.0 + 0.0305, abs=5e-3)
    r = theory.analyze("tanh", ci.sigma_w2, ci.sigma_b2)
    assert r.q_star == pytest.approx(1 / 64, rel=1e-9) and r.chi1 == pytest.approx(1.0, abs=1e-10)
    relu = theory.critical_init("relu", q_star=0.5)  # relu's critical line: sigma_b^2 = 0, any q*
    assert relu.sigma_w2 == pytest.approx(2.0) and relu.sigma_b2 == pytest.approx(0.0, abs=1e-15)
    with pytest.raises(ValueError, match="no critical point"):
        theory.critical_init("sigmoid", q_star=1.0)  # would need sigma_b^2 = 1 - V/E[phi'^2] < 0
    with pytest.raises(ValueError, match="not both"):
        theory.critical_init("tanh", sigma_b2=0.1, q_star=0.1)


def test_compare_rows():
    rows = theory.compare(["tanh", "relu"])
    assert [r["activation"] for r in rows] == ["tanh", "relu"]
    assert rows[1]["chi1_he"] == pytest.approx(1.0) and rows[1]["phase_he"] == "critical"
    assert rows[0]["chi1_torch_default"] == pytest.approx(1 / 3)  # nn.Linear's default init


# ---------------------------------------------------------------------------------------------
# activations as theory sees them
# ---------------------------------------------------------------------------------------------
def test_activation_resolution():
    assert theory.activation(nn.Tanh()).name == "tanh"
    assert theory.activation({"name": "leaky_relu", "negative_slope": 0.3}).params["negative_slope"] == 0.3
    p = actlab.get("prelu", init=0.1)
    with torch.no_grad():
        p.weight.fill_(0.4)  # a learned slope: theory uses the current value
    phi = theory.activation(p)
    x = torch.tensor([-1.0], dtype=torch.float64)
    assert float(phi.f(x)) == pytest.approx(-0.4) and float(phi.df(x)) == pytest.approx(0.4)
    per_channel = actlab.get("prelu", num_parameters=3)
    with torch.no_grad():
        per_channel.weight.copy_(torch.tensor([0.1, 0.2, 0.3]))
    with pytest.raises(ValueError, match="per channel"):
        theory.activation(per_channel)
    noisy = actlab.get("noisy_relu").train()
    phi = theory.activation(noisy)  # the deterministic eval form, whatever the module's mode
    x = torch.linspace(-2, 2, 5, dtype=torch.float64)
    assert torch.equal(phi.f(x), torch.relu(x))
    assert theory.activation("softsign").kinks == (0.0,)  # C^1: f' has a kink at 0
    with pytest.raises(ValueError):
        theory.activation(nn.Linear(2, 2))
    with pytest.raises(TypeError):
        theory.activation(3.0)


def test_bad_input():
    with pytest.raises(ValueError, match="variances"):
        theory.analyze("tanh", -1.0, 0.0)
    with pytest.raises(ValueError, match="q0"):
        theory.analyze("tanh", 1.0, 0.0, q0=0.0)
    with pytest.raises(ValueError, match="sigma_w2"):
        theory.analyze("tanh", math.nan, 0.0)
    with pytest.raises(ValueError, match="unknown activation"):
        theory.analyze("tanhh", 1.0)
    with pytest.raises(ValueError, match="width"):
        theory.propagation("tanh", 1.0, width=0)
    with pytest.raises(ValueError, match="weights"):
        theory.jacobian_spectrum("tanh", 1.0, 0.1, weights="uniform")


# ---------------------------------------------------------------------------------------------
# measurement (3a, 3c)
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("sigma_w2", "sigma_b2"), [(1.0, 0.05), (2.5, 0.05)])
def test_propagation_matches_theory(sigma_w2, sigma_b2):
    """Three random nets of width 400, depth 30. Measured spread over seeds at width 300: about 2%
    (gradient ratio) and 3% (mean q) per net, so the means of three nets are held to 4% and 6%."""
    sums = [chk.summary() for chk in (theory.propagation("tanh", sigma_w2, sigma_b2, width=400, depth=30,
                                                         seed=seed) for seed in range(3))]
    mean = {k: sum(s[k] for s in sums) / 3 for k in ("q_mean_measured", "grad_ratio_measured")}
    s = sums[0]
    assert mean["q_mean_measured"] == pytest.approx(s["q_mean_predicted"], rel=0.06)
    assert mean["grad_ratio_measured"] == pytest.approx(s["grad_ratio_predicted"], rel=0.04)
    assert s["grad_ratio_predicted"] == pytest.approx(s["inv_chi1"], rel=1e-3)


def test_propagation_first_layer_and_shapes():
    chk = theory.propagation("relu", 2.0, 0.0, width=200, depth=10, q0=2.0)
    assert chk.q_measured.shape == (10,) and chk.ratio_measured.shape == (9,)
    assert float(chk.q_predicted[0]) == 2.0 and float(chk.q_measured[0]) == pytest.approx(2.0, rel=0.1)
    assert torch.allclose(chk.ratio_predicted, torch.ones(9, dtype=torch.float64))


def test_jacobian_spectra_dynamical_isometry():
    ci = theory.critical_init("tanh", q_star=1 / 64)
    w, L = 128, 16
    t_orth = theory.jacobian_spectrum("tanh", ci.sigma_w2, ci.sigma_b2, w, L, "orthogonal")
    t_gauss = theory.jacobian_spectrum("tanh", ci.sigma_w2, ci.sigma_b2, w, L, "gaussian")
    r_orth = theory.jacobian_spectrum("relu", 2.0, 0.0, w, L, "orthogonal", q0=1.0)
    assert t_orth.nvar_sq < 0.1 < 5 < t_gauss.nvar_sq
    assert t_orth.nvar_sq == pytest.approx(t_orth.nvar_sq_predicted, abs=0.05)
    assert r_orth.nvar_sq_predicted == pytest.approx(L)  # relu: mu2/mu1^2 - 1 = 1 per layer
    assert r_orth.nvar_sq > 0.4 * L  # relu cannot be isometric, even with orthogonal weights
    assert t_orth.singular_values.max() / t_orth.singular_values.min() < 5
    assert t_orth.mean_sq == pytest.approx(1.0, rel=0.1)


# ---------------------------------------------------------------------------------------------
# phase diagram, plots, CLI
# ---------------------------------------------------------------------------------------------
def test_phase_diagram_and_plot(tmp_path):
    pd = theory.phase_diagram("tanh", n=12)
    assert pd.values["xi_c"].shape == (12, 12) and pd.critical.shape == pd.critical_sigma_b2.shape
    phase = pd.values["phase"]
    left = pd.sigma_w2[None, :] < theory.critical_line("tanh", pd.sigma_b2)[:, None] - 0.05
    assert bool((phase[left] == 0).all())  # ordered left of the critical line
    path = theory.plot_phase_diagram(pd, tmp_path / "pd.png")
    assert path.stat().st_size > 10_000
    with pytest.raises(ValueError, match="extensions"):
        theory.plot_phase_diagram(pd, tmp_path / "pd.txt")


def test_layer_chi1_for_monitors():
    torch.manual_seed(0)
    lin = nn.Linear(400, 400)
    nn.init.normal_(lin.weight, std=math.sqrt(1.0 / 400))
    nn.init.normal_(lin.bias, std=math.sqrt(0.05))
    p = theory.layer_chi1("tanh", lin.weight, lin.bias)
    assert p.sigma_w2 == pytest.approx(1.0, rel=0.02) and p.sigma_b2 == pytest.approx(0.05, rel=0.15)
    ref = theory.analyze("tanh", p.sigma_w2, p.sigma_b2)
    assert p.q == pytest.approx(ref.q_star) and p.chi1 == pytest.approx(ref.chi1) and p.phase == "ordered"
    at_q = theory.layer_chi1(nn.Tanh(), lin.weight, q=0.0)
    assert at_q.chi1 == pytest.approx(p.sigma_w2, rel=1e-12)  # tanh'(0) = 1
    conv = nn.Conv2d(8, 16, 3)
    nn.init.kaiming_normal_(conv.weight)  # He: sigma_w^2 = 2 with fan-in 8 * 3 * 3
    assert theory.layer_chi1("relu", conv.weight).chi1 == pytest.approx(1.0, rel=0.15)
    with pytest.raises(ValueError, match="weight"):
        theory.layer_chi1("relu", torch.ones(3))


def test_plot_trainability(tmp_path):
    score = torch.rand(3, 4)
    path = theory.plot_trainability([0.5, 1.0, 1.5, 2.0], [5, 10, 20], score, "tanh", 0.05,
                                    tmp_path / "t.png", chance=0.1, log_depth=True)
    assert path.stat().st_size > 5_000
    with pytest.raises(ValueError, match="shape"):
        theory.plot_trainability([0.5, 1.0], [5, 10, 20], score, "tanh", 0.05, tmp_path / "t.png")


def test_cli(tmp_path):
    from typer.testing import CliRunner

    from actlab.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["theory", "tanh", "--sigma-w2", "1", "--sigma-b2", "0.05", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["phase"] == "ordered" and data["q_star"] == pytest.approx(0.193593, abs=1e-6)
    res = runner.invoke(app, ["theory", "leaky_relu", "--param", "negative_slope=0.5", "--sigma-w2", "2",
                              "--json"])
    assert json.loads(res.output)["q_star"] == "inf"
    res = runner.invoke(app, ["theory", "--compare", "tanh", "relu"])
    assert res.exit_code == 0 and "relu" in res.output
    out = tmp_path / "pd.png"
    res = runner.invoke(app, ["theory", "relu", "--phase-diagram", "--resolution", "10", "--out", str(out)])
    assert res.exit_code == 0 and out.exists()
    res = runner.invoke(app, ["theory", "tanh", "--phase-diagram"])
    assert res.exit_code != 0 and "--out" in res.output
    res = runner.invoke(app, ["theory", "tanh", "--param", "oops"])
    assert res.exit_code != 0 and "NAME=VALUE" in res.output
