"""The noisy units (issue 3, parts 1, 4 and 5): NAN, NANI, NANIS, NANIL against a plain transcription
of the paper's equations, reference values, gradients, determinism, the two known bugs of the
authors' code, and the fused NAN against the autograd composition.

The generic catalog checks (gradcheck/gradgradcheck of the modules in train and eval, properties
against measurement, finiteness in every dtype) run over these entries in test_catalog_*.py.
"""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from torch.autograd import gradcheck, gradgradcheck

import actlab
import actlab.noisy as noisy
from actlab.noisy import functional as NF

UNITS = ("hard_tanh", "hard_sigmoid", "relu")
KINDS = ("nan", "nani", "nanis", "nanil")
SQRT_2_PI = math.sqrt(2.0 / math.pi)


# -------------------------------------------------------------------------------------------------
# a plain transcription of the equations, on Python floats (independent of actlab's code)
# -------------------------------------------------------------------------------------------------
def _sigmoid(t: float) -> float:
    return 1.0 / (1.0 + math.exp(-t)) if t >= 0 else math.exp(t) / (1.0 + math.exp(t))


def _sgn(v: float) -> float:
    return (v > 0) - (v < 0)


def _softplus(t: float) -> float:
    return max(t, 0.0) + math.log1p(math.exp(-abs(t)))


def ref_h(unit: str, x: float) -> float:
    if unit == "hard_tanh":
        return min(1.0, max(-1.0, x))
    if unit == "hard_sigmoid":
        return min(1.0, max(0.0, 0.25 * x + 0.5))
    return max(0.0, x)


def ref_u(unit: str, x: float) -> float:
    return 0.25 * x + 0.5 if unit == "hard_sigmoid" else x


def ref_saturated(unit: str, x: float) -> bool:
    t = {"hard_tanh": 1.0, "hard_sigmoid": 2.0}.get(unit)
    return x < 0 if t is None else abs(x) > t


def ref_phi(kind: str, unit: str, x: float, xi: float, alpha: float = 1.15, c: float = 0.5,
            p: float = 1.0) -> float:
    """The issue's definitions, term by term."""
    h, u = ref_h(unit, x), ref_u(unit, x)
    delta = h - u
    if kind == "nan":
        d = -_sgn(x) * _sgn(1.0 - alpha)
        s = c * (_sigmoid(p * delta) - 0.5) ** 2
        return alpha * h + (1.0 - alpha) * u + d * s * xi
    if kind == "nani":
        return ref_h(unit, x + c * xi)
    if kind == "nanis":
        return ref_h(unit, x + c * xi) if ref_saturated(unit, x) else h
    return ref_h(unit, x + c * _softplus(p * abs(delta)) * xi)


def _params(kind: str, alpha: float, c: float, p: float, noise: str) -> dict:
    kw = {"c": c, "noise": noise}
    if kind == "nan":
        kw["alpha"] = alpha
    if kind in ("nan", "nanil"):
        kw["p"] = p
    return kw


def _inputs(n: int = 400, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, generator=g, dtype=torch.float64) * 3.0


# -------------------------------------------------------------------------------------------------
# the equations, the reference values, eval forms
# -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("unit", UNITS)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("noise", ["normal", "half_normal"])
def test_matches_transcription_train_and_eval(kind, unit, noise):
    """Many random inputs, given draws (train) and E[xi] (eval), at a few parameter settings."""
    x = _inputs()
    g = torch.Generator().manual_seed(1)
    xi = torch.randn(x.shape, generator=g, dtype=torch.float64)
    if noise == "half_normal":
        xi = xi.abs()
    fn = actlab.spec(f"{kind}_{unit}").fn
    for alpha, c, p in [(1.15, 0.5, 1.0), (0.7, 2.0, -1.5), (1.4, 0.3, 3.0)]:
        kw = _params(kind, alpha, c, p, noise)
        alpha_ = kw.get("alpha", 1.15)
        y = fn(x, training=True, xi=xi, **kw)
        ref = [ref_phi(kind, unit, a, b, alpha_, c, p) for a, b in zip(x.tolist(), xi.tolist())]
        torch.testing.assert_close(y, torch.tensor(ref, dtype=torch.float64), rtol=1e-12, atol=1e-12)
        e = SQRT_2_PI if noise == "half_normal" else 0.0
        y_eval = fn(x, **kw)
        ref_eval = [ref_phi(kind, unit, a, e, alpha_, c, p) for a in x.tolist()]
        torch.testing.assert_close(y_eval, torch.tensor(ref_eval, dtype=torch.float64),
                                   rtol=1e-12, atol=1e-12)
        # eval_noise="none": xi -> 0
        y_none = fn(x, eval_noise="none", **kw)
        ref_none = [ref_phi(kind, unit, a, 0.0, alpha_, c, p) for a in x.tolist()]
        torch.testing.assert_close(y_none, torch.tensor(ref_none, dtype=torch.float64),
                                   rtol=1e-12, atol=1e-12)


def test_reference_values_hard_tanh():
    """NAN hard_tanh, alpha=1.15, c=0.5, p=1, half-normal, eval (the issue's numbers)."""
    def by_hand(x: float) -> float:  # x > 1: h = 1, u = x, Delta = 1 - x, d = +1
        return 1.15 - 0.15 * x + 0.5 * (1 / (1 + math.exp(x - 1)) - 0.5) ** 2 * math.sqrt(2 / math.pi)

    m = actlab.get("nan_hard_tanh", alpha=1.15, c=0.5, p=1.0, noise="half_normal").double().eval()
    y = m(torch.tensor([2.0, 3.0, -2.0, -3.0], dtype=torch.float64)).tolist()
    assert y[0] == pytest.approx(0.871299, abs=5e-7) and y[0] == pytest.approx(by_hand(2.0), rel=1e-14)
    assert y[1] == pytest.approx(0.757849, abs=5e-7) and y[1] == pytest.approx(by_hand(3.0), rel=1e-14)
    assert y[2] == pytest.approx(-y[0], rel=1e-15) and y[3] == pytest.approx(-y[1], rel=1e-15)
    x = torch.linspace(-1, 1, 2001, dtype=torch.float64)
    assert torch.equal(m(x), x)


def test_reference_values_hard_sigmoid():
    """NAN hard_sigmoid, alpha=1.1, c=0.15, p=1, half-normal, eval."""
    e = math.sqrt(2 / math.pi)
    s = 0.15 * (1 / (1 + math.exp(0.5)) - 0.5) ** 2  # |Delta(+-4)| = 0.5
    by_hand = {4.0: 1.1 * 1 - 0.1 * 1.5 + s * e, -4.0: -0.1 * -0.5 - s * e}
    m = actlab.get("nan_hard_sigmoid", alpha=1.1, c=0.15, p=1.0, noise="half_normal").double().eval()
    y = m(torch.tensor([4.0, -4.0], dtype=torch.float64)).tolist()
    assert y[0] == pytest.approx(0.951795, abs=5e-7) and y[0] == pytest.approx(by_hand[4.0], rel=1e-14)
    assert y[1] == pytest.approx(0.048205, abs=5e-7) and y[1] == pytest.approx(by_hand[-4.0], rel=1e-14)
    x = torch.linspace(-2, 2, 2001, dtype=torch.float64)
    assert torch.equal(m(x), x * 0.25 + 0.5)


def test_defaults_are_the_authors():
    assert actlab.spec("nan_hard_tanh").defaults["alpha"] == 1.15
    assert actlab.spec("nan_hard_tanh").defaults["c"] == 0.5
    d = actlab.spec("nan_hard_sigmoid").defaults
    assert (d["alpha"], d["c"], d["noise"]) == (1.1, 0.15, "half_normal")


@pytest.mark.parametrize("name", noisy.NAMES)
def test_eval_is_deterministic_and_train_is_not(name):
    m = actlab.get(name).double()
    x = _inputs(64)
    m.eval()
    assert torch.equal(m(x), m(x))
    assert torch.equal(m(x), actlab.spec(name).fn(x))
    m.train()
    assert not torch.equal(m(x), m(x))


def test_eval_noise_none_is_the_plain_unit_for_input_noise():
    x = _inputs()
    for unit in UNITS:
        h = NF.unit(unit).h(x)
        for kind in ("nani", "nanis", "nanil"):
            y = actlab.spec(f"{kind}_{unit}").fn(x, noise="half_normal", eval_noise="none")
            assert torch.equal(y, h)
            y = actlab.spec(f"{kind}_{unit}").fn(x, noise="normal")  # E[xi] = 0
            assert torch.equal(y, h)


# -------------------------------------------------------------------------------------------------
# gradients
# -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("unit", UNITS)
@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
def test_nan_gradient_is_nonzero_in_saturation(unit, training):
    """h' = 0 beyond the thresholds, NAN's gradient is not (the point of the paper)."""
    t = {"hard_tanh": 1.0, "hard_sigmoid": 2.0, "relu": 0.0}[unit]
    xs = [-t - 0.5, -t - 3.0] + ([t + 0.5, t + 3.0] if unit != "relu" else [])
    x = torch.tensor(xs, dtype=torch.float64, requires_grad=True)
    m = actlab.get(f"nan_{unit}", noise="half_normal").double().train(training)
    m(x).sum().backward()
    assert (x.grad.abs() > 1e-3).all(), x.grad
    xh = x.detach().clone().requires_grad_(True)
    NF.unit(unit).h(xh).sum().backward()
    assert (xh.grad == 0).all()  # where the plain unit passes nothing


def _fixed_noise_case(unit: str, per_unit: bool, noise: str = "normal"):
    g = torch.Generator().manual_seed(5)
    x = torch.randn(4, 6, generator=g, dtype=torch.float64) * 3
    xi = torch.randn(4, 6, generator=g, dtype=torch.float64)
    if noise == "half_normal":
        xi = xi.abs()
    p = (torch.linspace(-2, 2, 6, dtype=torch.float64) if per_unit
         else torch.tensor([0.8], dtype=torch.float64))
    return x, xi, p


@pytest.mark.parametrize("unit", UNITS)
@pytest.mark.parametrize("per_unit", [False, True], ids=["shared_p", "per_unit_p"])
def test_nan_gradcheck_fixed_noise_x_and_p(unit, per_unit):
    """float64 gradcheck and gradgradcheck w.r.t. x and p, train form with the draw fixed."""
    x, xi, p = _fixed_noise_case(unit, per_unit)
    t = {"hard_tanh": 1.0, "hard_sigmoid": 2.0, "relu": 0.0}[unit]
    x = torch.where((x.abs() - t).abs() < 1e-3, x + 0.01, x)  # off the kinks

    def fn(x, p):
        return noisy.nan(x, unit, alpha=1.2, c=0.7, p=p, training=True, xi=xi)

    inputs = (x.requires_grad_(True), p.requires_grad_(True))
    assert gradcheck(fn, inputs, eps=1e-6, atol=1e-7, rtol=1e-6)
    assert gradgradcheck(fn, inputs, eps=1e-6, atol=1e-7, rtol=1e-6)


@pytest.mark.parametrize("unit", UNITS)
def test_nanil_gradcheck_fixed_noise_x_and_p(unit):
    x, xi, p = _fixed_noise_case(unit, per_unit=True)
    x = x + 0.013  # off the kinks (none of the draws sits within 1e-3 of one after this shift)

    def fn(x, p):
        return noisy.nanil(x, unit, c=0.4, p=p, training=True, xi=xi)

    assert gradcheck(fn, (x.requires_grad_(True), p.requires_grad_(True)), eps=1e-6, atol=1e-7)


# -------------------------------------------------------------------------------------------------
# determinism
# -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", noisy.NAMES)
def test_determinism_under_a_generator_and_the_global_seed(name):
    x = _inputs(50)
    outs = []
    for seed in (7, 7, 8):
        m = actlab.get(name, generator=torch.Generator().manual_seed(seed)).double().train()
        outs.append(m(x))
    assert torch.equal(outs[0], outs[1]) and not torch.equal(outs[0], outs[2])
    m = actlab.get(name).double().train()
    torch.manual_seed(3)
    a = m(x)
    torch.manual_seed(3)
    assert torch.equal(a, m(x))


# -------------------------------------------------------------------------------------------------
# the two known bugs of the authors' code
# -------------------------------------------------------------------------------------------------
def _nanis_ok(fn, unit: str) -> bool:
    """NANIS is h(x) off saturation and h(x + c xi) on it, for a fixed draw."""
    x = torch.linspace(-6, 6, 1201, dtype=torch.float64)
    xi = torch.randn(x.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    y = fn(x, xi)
    ref = torch.tensor([ref_phi("nanis", unit, a, b, c=1.0) for a, b in zip(x.tolist(), xi.tolist())],
                       dtype=torch.float64)
    return torch.allclose(y, ref, rtol=0, atol=1e-12)


def _authors_nanis_hard_sigmoid(x: torch.Tensor, xi: torch.Tensor) -> torch.Tensor:
    """NHardSigmoidSat as written: ``test * HS(x + c noise) + (1 - test) + HS(x)``."""
    test = (x.abs() > 2.0).to(x.dtype)
    hs = NF.unit("hard_sigmoid").h
    return test * hs(x + 1.0 * xi) + (1.0 - test) + hs(x)


@pytest.mark.parametrize("unit", UNITS)
def test_nanis_multiplies_the_mask(unit):
    fn = actlab.spec(f"nanis_{unit}").fn
    assert _nanis_ok(lambda x, xi: fn(x, c=1.0, training=True, xi=xi), unit)
    # ... and the check catches the authors' version, which adds 1 - mask.
    if unit == "hard_sigmoid":
        assert not _nanis_ok(_authors_nanis_hard_sigmoid, unit)


def _continuous_and_h_on_the_linear_piece(fn, unit: str) -> bool:
    """phi = h on the linear piece, and phi(t +- eps) -> h(t) at the thresholds (train, any xi)."""
    t = {"hard_tanh": 1.0, "hard_sigmoid": 2.0}[unit]
    inner = torch.linspace(-t + 1e-6, t - 1e-6, 999, dtype=torch.float64)
    xi = torch.full_like(inner, 1.7)
    if not torch.allclose(fn(inner, xi), NF.unit(unit).h(inner), rtol=0, atol=1e-12):
        return False
    eps = 1e-7
    for edge in (-t, t):
        pts = torch.tensor([edge - eps, edge, edge + eps], dtype=torch.float64)
        y = fn(pts, torch.full_like(pts, 1.7))
        if (y.max() - y.min()).item() > 1e-5:
            return False
    return True


def _authors_nsigmoid(x: torch.Tensor, xi: torch.Tensor, alpha: float = 1.15, c: float = 0.25):
    """NSigmoid (NAN without learned p) as written: linearised around x, ``x - sgn(x) eps``."""
    delta = x.abs() - 2.0
    scale = c * (torch.sigmoid(delta**2) - 0.5) ** 2
    z = x - torch.sign(x) * (scale * xi + alpha * delta)
    test = (x.abs() >= 2.0).to(x.dtype)
    return test * z + (1 - test) * NF.unit("hard_sigmoid").h(x)


@pytest.mark.parametrize("unit", ["hard_tanh", "hard_sigmoid"])
def test_nan_linearises_around_u_not_x(unit):
    fn = actlab.spec(f"nan_{unit}").fn
    assert _continuous_and_h_on_the_linear_piece(lambda x, xi: fn(x, training=True, xi=xi), unit)
    assert _continuous_and_h_on_the_linear_piece(lambda x, xi: fn(x), unit)
    if unit == "hard_sigmoid":  # the authors' version jumps from 1 to 2 at x = 2
        assert not _continuous_and_h_on_the_linear_piece(_authors_nsigmoid, unit)
        assert _authors_nsigmoid(torch.tensor([2.0]), torch.zeros(1)).item() == 2.0


def test_nanil_scale_does_not_depend_on_the_draw():
    """The shift is c softplus(p |Delta(x)|) xi, linear in xi (the authors' code has
    softplus(p |Delta| / |xi|) xi). relu at x = -3 (Delta = 3), draws that cross back above 0."""
    for v in (1.5, 2.0, 3.0):
        y = noisy.nanil(torch.tensor([-3.0], dtype=torch.float64), "relu", c=1.0, p=1.0,
                        training=True, xi=torch.tensor([v], dtype=torch.float64)).item()
        assert y == pytest.approx(-3.0 + math.log1p(math.exp(3.0)) * v, rel=1e-14)
        assert y != pytest.approx(-3.0 + math.log1p(math.exp(3.0 / v)) * v, rel=1e-3)


# -------------------------------------------------------------------------------------------------
# the fused NAN against the autograd composition
# -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("unit", UNITS)
@pytest.mark.parametrize("per_unit", [False, True], ids=["shared_p", "per_unit_p"])
@pytest.mark.parametrize("noise", ["normal", "half_normal"])
def test_fused_equals_composition_same_noise(unit, per_unit, noise):
    """float32: outputs, dL/dx and dL/dp of the fused Function equal the plain composition's."""
    x, xi, p = (t.float() for t in _fixed_noise_case(unit, per_unit, noise))
    x = torch.cat([x, x * 0.3, x * 3]).contiguous()
    xi = torch.cat([xi, xi.flip(0), xi * 0.5])
    w = torch.randn(x.shape, generator=torch.Generator().manual_seed(9))
    alpha, c = (1.15, 0.5) if unit != "relu" else (0.9, 0.5)
    results = []
    for fused in (True, False):
        xr, pr = x.clone().requires_grad_(True), p.clone().requires_grad_(True)
        if fused:
            y = noisy.nan(xr, unit, alpha=alpha, c=c, p=pr, noise=noise, training=True, xi=xi)
        else:
            y = noisy.nan_composed(xr, unit, alpha, c, pr, xi)
        (y * w).sum().backward()
        results.append((y.detach(), xr.grad, pr.grad))
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    # eval form: E[xi] in place of the draw
    e = SQRT_2_PI if noise == "half_normal" else 0.0
    torch.testing.assert_close(noisy.nan(x, unit, alpha=alpha, c=c, p=p, noise=noise),
                               noisy.nan_composed(x, unit, alpha, c, p, e), rtol=1e-6, atol=1e-6)


def _saved_bytes(fn) -> int:
    """Bytes autograd keeps for backward while fn's graph is alive (each storage once)."""
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor):
        s = t.untyped_storage()
        storages[s.data_ptr()] = s.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return sum(storages.values()), out


def test_fused_saves_at_most_twice_the_input():
    """x + the draw (float16 by default: 1.5x; full width: 2x), or x alone when the draw is
    recomputed; the composition keeps 7 input-sized tensors."""
    x = torch.randn(256, 512, requires_grad=True)
    p = torch.ones(1, requires_grad=True)
    n = x.numel() * x.element_size()
    fused, _ = _saved_bytes(lambda: noisy.nan(x, p=p, training=True))
    assert fused == 1.5 * n + 4  # (+ p)
    with noisy.kernel_options(compact_noise=False):
        full, _ = _saved_bytes(lambda: noisy.nan(x, p=p, training=True))
    assert full == 2 * n + 4
    with noisy.kernel_options(recompute_noise=True):
        light, _ = _saved_bytes(lambda: noisy.nan(x, p=p, training=True))
    assert light == n + 4
    composed, _ = _saved_bytes(lambda: noisy.nan_composed(x, "hard_tanh", 1.15, 0.5, p,
                                                          torch.randn(256, 512)))
    assert composed >= 4 * n  # what the Function avoids


def test_compact_noise_is_the_draw_the_unit_uses():
    """The float16 draw, upcast, is exactly the xi of the output and the gradients."""
    x = (torch.randn(3000) * 3).requires_grad_(True)
    y = noisy.nan(x, "hard_sigmoid", alpha=1.1, c=0.3, p=1.0, noise="half_normal", training=True,
                  generator=torch.Generator().manual_seed(4))
    xi = noisy.draw_noise(x, "half_normal", torch.Generator().manual_seed(4), dtype=torch.float16)
    assert xi.dtype == torch.float16 and (xi >= 0).all()
    ref = noisy.nan_composed(x, "hard_sigmoid", 1.1, 0.3, 1.0, xi.float())
    torch.testing.assert_close(y, ref, rtol=1e-6, atol=1e-7)
    (g1,) = torch.autograd.grad(y.sum(), x)
    (g2,) = torch.autograd.grad(ref.sum(), x)
    torch.testing.assert_close(g1, g2, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("unit", UNITS)
def test_blocked_eager_kernel_equals_the_plain_functions(unit, monkeypatch):
    """The in-place blocked kernel (many blocks: CHUNK made small) against the plain ones, for
    shared and per-unit p, 1-D to 4-D inputs, stored noise of another dtype, no noise."""
    monkeypatch.setattr(NF, "CHUNK", 64)
    u = NF.unit(unit)
    geo = (u.slope, u.offset, u.low, u.high)
    g = torch.Generator().manual_seed(0)
    for shape, pshape in [((1000,), ()), ((7, 5, 30), (5,)), ((70,), (70,)), ((3, 4), (4,)),
                          ((2, 3, 4, 5), ()), ((0, 3), (3,))]:
        x = torch.randn(shape, generator=g, dtype=torch.float64) * 3
        gy = torch.randn(shape, generator=g, dtype=torch.float64)
        p = torch.randn(pshape, generator=g, dtype=torch.float64) if pshape else torch.tensor(0.7).double()
        pt = NF._broadcast_p(p, x, "t")
        for xi in (None, torch.randn(shape, generator=g, dtype=torch.float64),
                   torch.randn(shape, generator=g).float()):
            for k in (0.0, 0.4):
                a = NF._nan_value(x, pt, xi, 1.2, k, *geo)
                b = NF._nan_value_blocked(x, pt, xi, 1.2, k, *geo)
                torch.testing.assert_close(a, b, rtol=1e-13, atol=1e-13)
                ga, pa = NF._nan_grads(gy, x, pt, xi, 1.2, k, *geo, True)
                gb, pb = NF._nan_grads_blocked(gy, x, pt, xi, 1.2, k, *geo, True)
                torch.testing.assert_close(ga, gb, rtol=1e-12, atol=1e-12)
                torch.testing.assert_close(pa.sum_to_size(pt.shape), pb, rtol=1e-10, atol=1e-10)


def test_recomputed_noise_gives_the_same_values_and_gradients():
    x = torch.randn(1000, dtype=torch.float64) * 3
    p = torch.tensor(0.7, dtype=torch.float64)
    out = []
    for recompute in (False, True):
        xr, pr = x.clone().requires_grad_(True), p.clone().requires_grad_(True)
        with noisy.kernel_options(recompute_noise=recompute):
            y = noisy.nan(xr, "hard_sigmoid", alpha=1.1, c=0.4, p=pr, noise="half_normal",
                          training=True, generator=torch.Generator().manual_seed(11))
            torch.manual_seed(0)  # the redraw must not depend on the global RNG meanwhile
            torch.randn(10)
            y.sum().backward()
        out.append((y.detach(), xr.grad, pr.grad))
    for a, b in zip(*out):
        assert torch.equal(a, b)


@pytest.mark.slow
def test_compiled_kernel_equals_eager():
    """torch.compile'd forward/backward (one fused pass each) against the eager kernel."""
    x = torch.randn(4096) * 3
    xi = torch.randn(4096)
    p = torch.tensor([1.3])
    out = []
    for compiled in (False, True):
        xr, pr = x.clone().requires_grad_(True), p.clone().requires_grad_(True)
        with noisy.kernel_options(compiled=compiled), warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            y = noisy.nan(xr, p=pr, training=True, xi=xi)
            y.sum().backward()
        if any("torch.compile failed" in str(m.message) for m in w):
            pytest.skip("torch.compile is not available here")
        out.append((y.detach(), xr.grad, pr.grad))
    for a, b in zip(*out):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", noisy.NAMES)
@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
def test_meta_tensors_run_on_shapes_alone(name, training):
    """Deferred initialisation (device="meta"): forward and backward need no data (a 0-d p used
    to be read as a number)."""
    m = actlab.get(name).to("meta").train(training)
    x = torch.empty(4, 8, device="meta", requires_grad=True)
    y = m(x)
    assert y.is_meta and y.shape == x.shape and y.dtype == x.dtype
    y.sum().backward()
    assert x.grad is not None and x.grad.shape == x.shape


@pytest.mark.parametrize("name", noisy.NAMES)
def test_torch_export_matches_eager(name):
    m = actlab.get(name).eval()
    x = torch.randn(16, 8) * 3
    exported = torch.export.export(m, (x,))
    torch.testing.assert_close(exported.module()(x), m(x))


@pytest.mark.parametrize("name", ["nan_hard_tanh", "nan_hard_sigmoid", "nan_relu"])
def test_torch_func_vmap_grad_jacrev_match_autograd(name):
    """torch.func transforms run through NAN's autograd Function (plain ops, batched): vmap equals
    the batched call, per-sample gradients of the input and of a per-unit p equal autograd's
    sample by sample, jacrev's diagonal equals the gradient. Half-normal noise, so that the eval
    form keeps its noise term (E[xi] > 0) and p's gradient is not zero."""
    from torch.func import functional_call, grad, jacrev, vmap

    m = actlab.get(name, num_parameters=8, noise="half_normal").eval().double()
    x = torch.randn(5, 8, dtype=torch.float64) * 3
    torch.testing.assert_close(vmap(m)(x.unsqueeze(1)).squeeze(1), m(x))
    params = {k: v.detach() for k, v in m.named_parameters()}

    def loss(prm, xs):
        return functional_call(m, prm, (xs.unsqueeze(0),)).pow(2).sum()

    per_x = vmap(grad(loss, argnums=1), in_dims=(None, 0))(params, x)
    per_p = vmap(grad(loss), in_dims=(None, 0))(params, x)["p"]
    assert per_p.abs().max() > 0
    for i in range(len(x)):
        xi = x[i:i + 1].clone().requires_grad_(True)
        m.zero_grad()
        m(xi).pow(2).sum().backward()
        torch.testing.assert_close(per_x[i], xi.grad[0])
        torch.testing.assert_close(per_p[i], m.p.grad)
    jac = jacrev(m)(x[:1])
    d = x[:1].clone().requires_grad_(True)
    m(d).sum().backward()
    torch.testing.assert_close(jac.reshape(8, 8).diagonal(), d.grad[0])


def test_torch_func_vmap_of_the_training_form_with_given_noise():
    """The training form (a noise draw) under vmap and grad: with the draw given (xi), per-sample
    values and input gradients equal the direct call's."""
    from torch.func import grad, vmap

    x = torch.randn(6, 8, dtype=torch.float64) * 3
    xi = torch.randn(6, 8, dtype=torch.float64)
    p = torch.full((8,), 1.3, dtype=torch.float64)

    def unit(xs, ns):
        return noisy.nan(xs, "hard_tanh", p=p, training=True, xi=ns)

    torch.testing.assert_close(vmap(unit)(x, xi), unit(x, xi))
    per_x = vmap(grad(lambda xs, ns: unit(xs, ns).sum()))(x, xi)
    xr = x.clone().requires_grad_(True)
    unit(xr, xi).sum().backward()
    torch.testing.assert_close(per_x, xr.grad)


@pytest.mark.slow
def test_torch_compile_traces_the_plain_ops_once():
    """Under torch.compile a NAN unit is traced as the plain elementwise ops (which the compiler
    fuses), not as the blocked eager kernel, whose loop over blocks of CHUNK elements would be
    unrolled into the graph: a 4x larger input gives a graph of the same size. Values and
    gradients equal the eager model's."""
    sizes: list[int] = []

    def count_nodes(gm, example_inputs):  # a torch.compile backend that only looks
        # every (sub)graph: the Function's forward and backward are GraphModules inside gm
        graphs = [sub for sub in gm.modules() if isinstance(sub, torch.fx.GraphModule)]
        sizes.append(sum(len(sub.graph.nodes) for sub in graphs))
        return gm.forward

    torch._dynamo.reset()
    unit = actlab.get("nan_hard_sigmoid").eval()  # the eval form: deterministic
    compiled = torch.compile(unit, backend=count_nodes, dynamic=False)
    for n in (NF.CHUNK, 4 * NF.CHUNK):
        x = (torch.randn(n) * 4).requires_grad_(True)
        xr = x.detach().clone().requires_grad_(True)
        y, yr = compiled(x), unit(xr)
        torch.testing.assert_close(y, yr)
        y.sum().backward()
        yr.sum().backward()
        torch.testing.assert_close(x.grad, xr.grad)
    assert len(sizes) == 2 and sizes[0] == sizes[1], sizes


# -------------------------------------------------------------------------------------------------
# modules, parameters, errors
# -------------------------------------------------------------------------------------------------
def test_catalog_entries_and_flags():
    names = actlab.names()
    assert all(n in names for n in noisy.NAMES) and len(noisy.NAMES) == 12
    for n in noisy.NAMES:
        s = actlab.spec(n)
        assert s.stochastic and s.learnable == n.startswith(("nan_", "nanil_"))
        m = actlab.get(n)
        assert isinstance(m, noisy.NoisyActivation) and m.spec is s
        assert actlab.get(m.get_config()).get_config() == m.get_config()


def test_per_unit_p_and_uniform_init():
    torch.manual_seed(0)
    m = actlab.get("nan_hard_tanh", num_parameters=8, p=2.0, p_init="uniform")
    assert m.p.shape == (8,) and (m.p.abs() <= 2.0).all() and m.p.std() > 0.1
    x = torch.randn(5, 8, 3, requires_grad=True)
    m.train()(x).sum().backward()
    assert m.p.grad.shape == (8,) and (m.p.grad != 0).any()
    assert torch.equal(actlab.get("nanil_relu", num_parameters=3, p=0.5).p, torch.full((3,), 0.5))


def test_c_is_settable_and_validated():
    m = actlab.get("nan_hard_tanh")
    m.c = 30.0
    assert m.c == 30.0 and m.get_config()["c"] == 30.0
    with pytest.raises(ValueError, match=r"c=-1.0 is out of range"):
        m.c = -1.0


@pytest.mark.parametrize(("params", "message"), [
    ({"noise": "gaussian"}, r"noise='gaussian' is invalid; valid: one of 'normal', 'half_normal'"),
    ({"eval_noise": "mean"}, r"eval_noise='mean' is invalid; valid: one of 'expectation', 'none'"),
    ({"alpha": 0.0}, r"alpha=0.0 is out of range; valid: \(0, inf\)"),
    ({"p_init": "normal"}, r"p_init='normal' is invalid; valid: one of 'constant', 'uniform'"),
    ({"num_parameters": 0}, r"num_parameters=0 is out of range"),
    ({"beta": 1.0}, r"unknown parameter 'beta'"),
])
def test_bad_parameters_give_one_line_errors(params, message):
    with pytest.raises(ValueError, match=message) as e:
        actlab.get("nan_hard_tanh", **params)
    assert "\n" not in str(e.value)


def test_shape_errors():
    m = actlab.get("nan_hard_tanh", num_parameters=4)
    with pytest.raises(ValueError, match=r"4 values of p .* shape \(2, 5\); valid: dim 1 of size 4"):
        m(torch.randn(2, 5))
    with pytest.raises(ValueError, match=r"xi has shape \(3,\) but the input has \(2,\)"):
        noisy.nan(torch.randn(2), training=True, xi=torch.randn(3))
    with pytest.raises(TypeError, match="floating-point"):
        noisy.nan(torch.arange(3))


def test_every_noisy_entry_has_a_functional_form_and_derivative_in_actlab_functional() -> None:
    from actlab.noisy.entries import SPECS

    x = torch.linspace(-4, 4, 41, dtype=torch.float64)
    for s in SPECS:
        fn, d = getattr(actlab.functional, s.name), getattr(actlab.functional, f"d_{s.name}")
        assert torch.equal(fn(x, training=False), actlab.spec(s.name).fn(x, training=False)), s.name
        assert d is s.derivative_fn, s.name
