"""Truthfulness of the catalog's metadata (issue 2, part 3): metadata that can lie is a bug.

For every entry at its defaults and at the non-default settings of conftest.EXTRA_CASES:

* the declared :class:`Properties` equal what :func:`actlab.catalog.measure.measure_properties`
  measures on the function itself, field by field (one measurement per case, cached);
* independently of that measurement code, the main claims are checked directly on a dense float64
  grid: range holds and is tight, sup |f'| holds and is approached, claimed fixed points satisfy
  f(x) = x to 1e-9 and no sign change of f(x) - x is unclaimed, monotonicity, hard-saturation
  thresholds (f' exactly 0 beyond, non-zero just inside), soft saturation (f' -> 0 but not exactly
  0 at moderate x), zero-centredness (|E f(z)| < 1e-6), differentiability at 0;
* learnable / stochastic / elementwise agree with the module.

The measurement itself is tested on functions whose properties are known in closed form.
"""

from __future__ import annotations

import functools
import math

import pytest
import torch

import actlab
from actlab.catalog import measure
from actlab.catalog.measure import autograd_grad, gaussian_mean, grid, measure_properties, scalar_slice
from conftest import input_shape, sample_input, spec_params

pytestmark = pytest.mark.usefixtures("torch_single_thread")

REL = 1e-9  # tolerance on transcendental values (bisection / golden section to ~1e-15)


def _key(params: dict) -> tuple:
    return tuple(sorted(params.items()))


@functools.cache
def _measured(name: str, key: tuple) -> actlab.Properties:
    s = actlab.spec(name)
    params = s.resolve(dict(key))
    return measure_properties(s.fn, s.derivative_fn, elementwise=s.properties(**params).elementwise,
                              **params)


def declared_and_measured(case):
    name, params = case
    return actlab.spec(name).properties(**params), _measured(name, _key(params))


def slices(case):
    """(f, f') of the case as univariate float64 functions (scalar_slice for entries that mix
    features)."""
    name, params = case
    s = actlab.spec(name)
    kw = spec_params(name, params)
    ew = s.properties(**params).elementwise
    return scalar_slice(s.fn, ew, **kw), scalar_slice(s.derivative, ew, **kw)


def close(a: float, b: float, rel: float = REL) -> bool:
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= rel * max(1.0, abs(a), abs(b))


def same_intervals(a, b) -> bool:
    return len(a) == len(b) and all(close(x0, y0) and close(x1, y1) for (x0, x1), (y0, y1) in zip(a, b))


X = grid(50.0, 2.0**-10)  # 102401 points; the measurement uses a 4 times finer one
FAR = torch.tensor([-1e12, -1e6, -1e3, 1e3, 1e6, 1e12], dtype=torch.float64)


# -------------------------------------------------------------------------------------------------
# declared == measured, field by field
# -------------------------------------------------------------------------------------------------
def test_declared_properties_match_measurement(catalog_case):
    name, params = catalog_case
    d, m = declared_and_measured(catalog_case)
    errors = []

    def check(field, ok):
        if not ok:
            errors.append(f"{field}: declared {getattr(d, field)!r}, measured {getattr(m, field)!r}")

    if name == "maxout" and d.output_range == (-math.inf, math.inf):
        # The slice t -> max(t, 0) ranges over [0, inf), but maxout's output is any real number
        # (all pieces equal to t gives t): the range is a property of the whole map, tested in
        # test_maxout_range_is_all_reals. Every other field is about the slice.
        pass
    else:
        check("output_range", all(close(a, b) for a, b in zip(d.output_range, m.output_range)))
        check("range_attained", d.range_attained == m.range_attained)
    check("monotonic", d.monotonic == m.monotonic)
    check("zero_centred", d.zero_centred == m.zero_centred)
    # C^2 and smoother cannot be told apart on a grid: the measurement says inf for both.
    check("smoothness", d.smoothness == m.smoothness or (d.smoothness >= 2 and m.smoothness == math.inf))
    check("differentiable_at_0", d.differentiable_at_0 == m.differentiable_at_0)
    check("kinks", len(d.kinks) == len(m.kinks) and all(map(close, d.kinks, m.kinks)))
    for side, ds, ms in zip(("left", "right"), d.saturation, m.saturation):
        ok = ds.kind == ms.kind and (ds.threshold is None) == (ms.threshold is None)
        if ok and ds.threshold is not None:
            ok = close(ds.threshold, ms.threshold)
        if not ok:
            errors.append(f"saturation {side}: declared {ds}, measured {ms}")
    check("sup_derivative", close(d.sup_derivative, m.sup_derivative))
    check("fixed_points", same_intervals(d.fixed_points, m.fixed_points))
    assert not errors, f"{name} {params}:\n  " + "\n  ".join(errors)


def test_maxout_range_is_all_reals():
    m = actlab.get("maxout", k=3)
    x = torch.tensor([[-1e6] * 3, [1e6] * 3, [-2.0, 5.0, 1.0]])
    assert m(x).flatten().tolist() == [-1e6, 1e6, 5.0]
    assert actlab.spec("maxout").output_range == (-math.inf, math.inf)


def test_flags_agree_with_the_module(catalog_case):
    """learnable: the module has parameters; stochastic: it is a StochasticActivation whose
    train-mode output varies; elementwise: its Jacobian is diagonal (shape kept)."""
    name, params = catalog_case
    p = actlab.spec(name).properties(**params)
    m = actlab.get(name, **params).double()
    assert p.learnable == any(q.requires_grad for q in m.parameters())
    assert p.stochastic == isinstance(m, actlab.StochasticActivation)
    if p.stochastic and not params:  # (rrelu with lower == upper is deterministic after all)
        x = sample_input(name, params)
        m.train()
        assert not torch.equal(m(x), m(x))
        m.eval()
    x = sample_input(name, params, shape=(2, 6) if len(input_shape(name, params)) == 2 else None)
    jac = torch.autograd.functional.jacobian(m, x).reshape(-1, x.numel())
    diagonal = jac.shape[0] == x.numel() and torch.equal(jac, torch.diag(torch.diagonal(jac)))
    assert p.elementwise == diagonal


# -------------------------------------------------------------------------------------------------
# direct checks of the main claims (independent of measure_properties)
# -------------------------------------------------------------------------------------------------
def test_range_holds_and_is_tight(catalog_case):
    d, _ = declared_and_measured(catalog_case)
    f, _ = slices(catalog_case)
    if catalog_case[0] == "maxout":
        pytest.skip("range of the whole map: test_maxout_range_is_all_reals")
    y = torch.cat([f(X), f(FAR)])
    y = y[~torch.isnan(y)]
    lo, hi = d.output_range
    if math.isfinite(lo):
        assert float(y.min()) >= lo - 1e-12 * max(1, abs(lo)), f"f = {float(y.min())} < {lo}"
    if math.isfinite(hi):
        assert float(y.max()) <= hi + 1e-12 * max(1, abs(hi)), f"f = {float(y.max())} > {hi}"
    # tight: approached to 1e-6 (sigmoid(-1e3) = 0 in float64) or, when infinite, exceeded far out
    for bound, extreme in ((lo, float(y.min())), (hi, float(y.max()))):
        if math.isfinite(bound):
            assert abs(extreme - bound) <= 1e-6 * max(1.0, abs(bound)), (bound, extreme)
        else:
            assert abs(extreme) >= 1e3, f"declared unbounded, but |f| <= {abs(extreme)}"
    # attained iff some x with |x| <= 12 reaches the bound (to rounding); an extremum between grid
    # points (gelu, silu, mish) is refined by golden section. At |x| = 12 every asymptote of the
    # catalog is still visibly away (tanh: 8e-11, elu: 6e-6).
    xs = X[X.abs() <= 12]
    for bound, attained in zip(d.output_range, d.range_attained):
        if not math.isfinite(bound):
            assert not attained
            continue
        gap = (f(xs) - bound).abs()
        i = int(torch.argmin(gap))
        if 0 < i < len(xs) - 1:
            def dist(v: float, b: float = bound) -> float:
                return abs(measure.at(f, v) - b)

            t = measure.golden_min(dist, float(xs[i - 1]), float(xs[i + 1]))
            best = min(float(gap[i]), dist(t))
        else:
            best = float(gap[i])
        reached = best <= 1e-12 * max(1.0, abs(bound))
        assert reached == attained, f"bound {bound}: declared attained={attained}, closest {best:.3g}"


def test_sup_derivative_holds_and_is_approached(catalog_case):
    d, _ = declared_and_measured(catalog_case)
    _, df = slices(catalog_case)
    # next to the kinks too: hard_swish's sup 3/2 is its slope just left of 3
    k = torch.tensor(d.kinks, dtype=torch.float64)
    near_kinks = torch.cat([k - 1e-9 * k.abs().clamp(min=1), k + 1e-9 * k.abs().clamp(min=1)])
    g = torch.cat([df(X), df(FAR), df(near_kinks)]).abs()
    sup = d.sup_derivative
    assert float(g.max()) <= sup * (1 + 1e-12) + 1e-300, f"|f'| reaches {float(g.max())} > {sup}"
    # approached: on the 2^-10 grid within 1e-5 (the peak of a smooth f' lies between grid points)
    assert float(g.max()) >= sup * (1 - 1e-5), f"sup |f'| = {sup} but max on the grid {float(g.max())}"


def test_fixed_points_are_fixed_and_none_is_missing(catalog_case):
    d, _ = declared_and_measured(catalog_case)
    if not d.elementwise:
        assert d.fixed_points == ()  # not defined for maps that mix features
        return
    f, _ = slices(catalog_case)
    for a, b in d.fixed_points:
        pts = [v for v in (a, b, 0.5 * (a + b)) if math.isfinite(v)]
        if math.isinf(a):
            pts += [-1e3, -7.5]
        if math.isinf(b):
            pts += [7.5, 1e3]
        t = torch.tensor(pts, dtype=torch.float64)
        assert ((f(t) - t).abs() <= 1e-9 * t.abs().clamp(min=1)).all(), f"f(x) != x at {pts}"

    def claimed(t: float) -> bool:
        return any(a - 1e-9 <= t <= b + 1e-9 for a, b in d.fixed_points)

    g = f(X) - X
    # every sign change of f(x) - x brackets a claimed fixed point ...
    s = torch.sign(g)
    for i in torch.nonzero(s[:-1] * s[1:] < 0).flatten().tolist():
        lo, hi = float(X[i]), float(X[i + 1])
        root = measure.bisect_root(lambda t: measure.at(f, t) - t, lo, hi)
        if abs(measure.at(f, root) - root) <= 1e-9 * max(1, abs(root)):  # not a jump across
            assert claimed(root), f"unclaimed fixed point near {root}"
    # ... and every exact zero on [-6, 6]
    zeros = X[(g == 0) & (X.abs() <= 6)]
    missing = [float(t) for t in zeros if not claimed(float(t))]
    assert not missing, f"f(x) == x exactly at unclaimed points {missing[:5]}"


def test_monotonicity_claim(catalog_case):
    d, _ = declared_and_measured(catalog_case)
    f, _ = slices(catalog_case)
    y = f(X)
    decreases = y[1:] < y[:-1] - 1e-13 * y[1:].abs().clamp(min=1)
    if d.monotonic:
        assert not decreases.any(), f"decreases at x={X[1:][decreases][:5].tolist()}"
    else:
        assert decreases.any(), "declared not monotonic, but non-decreasing on the grid"


def test_saturation_claims(catalog_case):
    """hard@t: f' == 0 exactly for every grid x beyond t, and f' != 0 just inside (or, for a
    function that is flat everywhere, f jumps at t); soft: |f'| -> 0 far out (< 1e-5 sup |f'| at
    1e12) but f' != 0 at x = +-10 and +-20; none: |f'| stays above 1e-3 sup |f'| far out."""
    d, _ = declared_and_measured(catalog_case)
    f, df = slices(catalog_case)
    sup = d.sup_derivative
    for sign, sat in zip((-1.0, 1.0), d.saturation):
        if sat.kind == "hard":
            t = sat.threshold
            beyond = X[(X - t) * sign > 0]
            assert (df(beyond) == 0).all(), f"f' != 0 beyond hard threshold {t}"
            assert (df(torch.tensor([sign * 1e6])) == 0).all()
            inside = torch.tensor([t - sign * 1e-9 * max(1, abs(t)), t - sign * 1e-3], dtype=torch.float64)
            if sup > 0:
                assert (df(inside) != 0).all(), f"f' == 0 just inside hard threshold {t}"
            else:  # flat everywhere (step): saturated from its jump on
                jump = f(torch.tensor([t + 1e-9], dtype=torch.float64)) - f(torch.tensor([t - 1e-9]))
                assert float(jump.abs()) > 0
        elif sat.kind == "soft":
            moderate = torch.tensor([sign * 10.0, sign * 20.0], dtype=torch.float64)
            assert (df(moderate) != 0).all(), "soft saturation, but f' is exactly 0 at moderate x"
            far = float(df(torch.tensor([sign * 1e12], dtype=torch.float64)).abs())
            assert far <= 1e-5 * max(1.0, sup), f"soft saturation, but |f'({sign * 1e12:g})| = {far}"
        else:
            far = df(torch.tensor([sign * 1e3, sign * 1e6, sign * 1e12], dtype=torch.float64)).abs()
            assert (far >= 1e-3 * sup).all(), f"no saturation claimed, but f' -> {far.tolist()}"


def test_zero_centred_claim(catalog_case):
    d, _ = declared_and_measured(catalog_case)
    f, _ = slices(catalog_case)
    mean = gaussian_mean(f)
    if d.zero_centred:
        assert abs(mean) < 1e-6, f"E[f(z)] = {mean}"
    else:
        assert abs(mean) > 1e-4, f"E[f(z)] = {mean}: zero-centred after all?"


def test_differentiable_at_0_claim(catalog_case):
    d, _ = declared_and_measured(catalog_case)
    f, df = slices(catalog_case)
    h = torch.tensor([-1e-9, 1e-9], dtype=torch.float64)
    left, right = df(h).tolist()
    fl, fr = f(h).tolist()
    jump = abs(right - left) > 1e-6 or abs(fr - fl) > 1e-6
    assert d.differentiable_at_0 == (not jump), f"f'(0-) = {left}, f'(0+) = {right}"
    assert d.differentiable_at_0 == (not any(k == 0 for k in d.kinks))


def test_known_values():
    """A few properties known in closed form, so a shared error of the declaration and the
    measurement cannot pass unnoticed."""
    sig_fp = actlab.spec("sigmoid").fixed_points[0][0]
    assert abs(1 / (1 + math.exp(-sig_fp)) - sig_fp) < 1e-15
    assert actlab.spec("hard_sigmoid").properties(slope=0.25).fixed_points == ((2 / 3, 2 / 3),)
    assert actlab.spec("hard_sigmoid").properties(slope=0.6).kinks == (-0.5 / 0.6, 0.5 / 0.6)
    elu2 = actlab.spec("elu").properties(alpha=2.0).fixed_points
    assert len(elu2) == 2 and elu2[0][0] < 0 and abs(2 * math.expm1(elu2[0][0]) - elu2[0][0]) < 1e-15
    assert actlab.spec("selu").zero_centred and not actlab.spec("elu").zero_centred
    assert actlab.spec("gelu").sup_derivative == pytest.approx(1.1289, abs=1e-4)
    assert actlab.spec("silu").output_range[0] == pytest.approx(-0.278464542761074, abs=1e-14)
    assert actlab.spec("tanh").sup_derivative == 1.0 and actlab.spec("sigmoid").sup_derivative == 0.25
    assert str(actlab.spec("relu6").saturation[1]) == "hard@6"
    assert actlab.spec("hard_tanh").properties(min=0.0, max=2.0).fixed_points == ((0.0, 2.0),)


# -------------------------------------------------------------------------------------------------
# the measurement on functions with known properties
# -------------------------------------------------------------------------------------------------
def _sqp(x):
    return 0.5 * (x + torch.sqrt(x * x + 4))


KNOWN = {
    # squareplus (So 2021): smooth, increasing, (0, inf), f' -> 0 left, 1 right, no fixed point
    "squareplus": (_sqp, dict(output_range=(0.0, math.inf), range_attained=(False, False),
                              monotonic=True, zero_centred=False, smoothness=math.inf, kinks=(),
                              differentiable_at_0=True, sup_derivative=1.0, fixed_points=(),
                              saturation=("soft", "none"))),
    # a bump: (0, 1], max attained at 0, soft on both sides although exp(-x^2) underflows to an
    # exactly flat tail at |x| > 27
    "gauss": (lambda x: torch.exp(-x * x), dict(output_range=(0.0, 1.0), range_attained=(False, True),
                                                monotonic=False, smoothness=math.inf, kinks=(),
                                                saturation=("soft", "soft"))),
    # max(0, x)^2: C1, hard saturation at 0 with f' continuous there, f' unbounded
    "relu_squared": (lambda x: torch.relu(x) ** 2, dict(smoothness=1.0, kinks=(), sup_derivative=math.inf,
                                                        saturation=("hard", "none"),
                                                        fixed_points=((0.0, 0.0), (1.0, 1.0)))),
    # |x|: a kink at 0, not monotonic, [0, inf) attained, fixed on [0, inf)
    "abs": (torch.abs, dict(output_range=(0.0, math.inf), range_attained=(True, False),
                            monotonic=False, smoothness=0.0, kinks=(0.0,), differentiable_at_0=False,
                            fixed_points=((0.0, math.inf),), saturation=("none", "none"))),
    # a jump of 0.5 at x = 1/3 (off the grid): discontinuous, kink located to float precision
    "jump": (lambda x: x + 0.5 * (x > 1 / 3).to(x.dtype),
             dict(smoothness=-1.0, kinks=(1 / 3,), monotonic=True, fixed_points=((-math.inf, 1 / 3),))),
    # softsign-like polynomial saturation; odd, so zero-centred
    "x_over_1_plus_abs": (lambda x: x / (1 + x.abs()), dict(saturation=("soft", "soft"), zero_centred=True,
                                                            smoothness=1.0, output_range=(-1.0, 1.0))),
    # a kink off the grid in f' only: leaky relu bent at -0.7
    "bent": (lambda x: torch.where(x > -0.7, x, -0.7 + 0.1 * (x + 0.7)),
             dict(kinks=(-0.7,), smoothness=0.0, differentiable_at_0=True, sup_derivative=1.0,
                  fixed_points=((-0.7, math.inf),))),
}


@pytest.mark.parametrize("fname", list(KNOWN))
def test_measure_on_known_functions(fname):
    fn, expected = KNOWN[fname]
    m = measure_properties(lambda x: fn(x))
    for field, want in expected.items():
        got = getattr(m, field)
        if field == "saturation":
            assert tuple(s.kind for s in got) == want, f"{field}: {got}"
        elif field in ("output_range", "kinks"):
            assert len(got) == len(want) and all(map(close, got, want)), f"{field}: {got} != {want}"
        elif field == "fixed_points":
            assert same_intervals(got, want), f"{field}: {got} != {want}"
        elif field == "sup_derivative":
            assert close(got, want), f"{field}: {got} != {want}"
        else:
            assert got == want, f"{field}: {got} != {want}"
    assert m.measured == measure.MEASURABLE


def test_measure_hard_threshold_and_derivative_given():
    """A closed-form derivative is used when given; the hard threshold is located by bisection
    (clamp at 0.3 is off the grid)."""
    m = measure_properties(lambda x: torch.clamp(x, max=0.3), lambda x: (x < 0.3).to(x.dtype))
    assert m.saturation[1].kind == "hard" and m.saturation[1].threshold == 0.3
    assert m.range_attained == (False, True) and m.output_range == (-math.inf, 0.3)


def test_measure_rejects_nan():
    with pytest.raises(ValueError, match="NaN at x="):
        measure_properties(lambda x: torch.sqrt(x))


def test_gaussian_mean_accuracy():
    assert abs(gaussian_mean(torch.relu) - 1 / math.sqrt(2 * math.pi)) < 1e-9
    assert abs(gaussian_mean(lambda z: z * z) - 1.0) < 1e-9


def test_scalar_slice():
    x = torch.linspace(-5, 5, 11, dtype=torch.float64)
    sm = scalar_slice(actlab.spec("softmax").fn, False, dim=-1)
    torch.testing.assert_close(sm(x), torch.sigmoid(x))
    mo = scalar_slice(actlab.spec("maxout").fn, False, k=3, dim=-1)
    torch.testing.assert_close(mo(x), torch.relu(x))
    # at the tie t = 0 the gradient goes to the first piece (torch.max's index), so 1
    assert torch.equal(autograd_grad(mo, x), (x >= 0).double())


@pytest.mark.parametrize("name, text", [("relu", "[0, inf)"), ("hard_tanh", "[-1, 1]"),
                                        ("identity", "(-inf, inf)"), ("tanh", "0")])
def test_fixed_points_text_writes_infinite_ends_open(name: str, text: str) -> None:
    assert actlab.spec(name).properties().fixed_points_text() == text


def test_parameterised_metadata_regressions():
    """Metadata that was wrong for some parameters (found by an audit against independent checks)."""
    F = actlab.functional
    # hard_tanh is differentiable at 0 unless 0 is one of its kinks (min or max)
    assert actlab.spec("hard_tanh").properties(min=0.5, max=3.0).differentiable_at_0
    assert actlab.spec("hard_tanh").properties(min=-3.0, max=-1.0).differentiable_at_0
    assert not actlab.spec("hard_tanh").properties(min=0.0, max=1.0).differentiable_at_0
    # elu's negative fixed point for any alpha > 1, far (alpha 100) or near (alpha 1 + 1e-10) from 0
    for alpha in (100.0, 61.0, 2.0, 1 + 1e-10):
        r = actlab.spec("elu").properties(alpha=alpha).fixed_points[0][0]
        x = torch.tensor([r], dtype=torch.float64)
        assert r < 0 and abs(float(F.elu(x, alpha=alpha) - x)) <= 1e-12 * max(1.0, abs(r)), (alpha, r)
    # softplus with a small threshold: the fixed-point interval starts where f(x) = x holds
    a = actlab.spec("softplus").properties(beta=3.0, threshold=1.0).fixed_points[0][0]
    assert float(F.softplus(torch.tensor([a], dtype=torch.float64), beta=3.0, threshold=1.0)) == a
    # zero-centred as Properties defines it (|E f(z)| < 1e-6): elu at SELU's alpha to 6 digits is
    assert actlab.spec("elu").properties(alpha=1.673265).zero_centred
    assert not actlab.spec("elu").properties(alpha=1.6733).zero_centred
    # softplus: a drop float32 can show (threshold 12: 6e-6 at x = 12, a few float32 ulps) is declared
    x = torch.tensor([12.0, 12.000001], dtype=torch.float32)
    assert float(F.softplus(x, threshold=12.0)[0]) > float(F.softplus(x, threshold=12.0)[1])
    assert not actlab.spec("softplus").properties(threshold=12.0).monotonic
    assert actlab.spec("softplus").properties(threshold=15.0).kinks == (15.0,)  # f' jumps by 3e-7
    assert actlab.spec("softplus").properties(threshold=15.0).fixed_points[0][1] == math.inf  # x beyond
    assert actlab.spec("softplus").properties().kinks == ()  # the default threshold 20: the formula


def test_measure_does_not_take_float32_rounding_for_kinks():
    """A user function computed in float32 steps by float32 ulps (2^-23 relative): not kinks or jumps."""
    from actlab.catalog.measure import measure_properties

    for fn in (lambda x: (torch.sigmoid(x.float()) + 1).double(), lambda x: torch.tanh(x.float()).double()):
        m = measure_properties(fn)
        assert m.kinks == () and m.smoothness != -1
