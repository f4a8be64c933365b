"""NoiseAnnealer and its schedules (issue 3, part 2)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

import actlab
from actlab.noisy import NoiseAnnealer, schedule


def _model() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 8), actlab.get("nan_hard_tanh"), nn.Linear(8, 8),
                         actlab.get("nanil_hard_sigmoid", c=0.2), nn.Linear(8, 2), nn.ReLU())


@pytest.mark.parametrize(("kind", "kw", "expected"), [
    ("constant", {"value": 0.7}, {0: 0.7, 5: 0.7, 10**6: 0.7}),
    ("linear", {"start": 30.0, "end": 0.5, "steps": 100}, {0: 30.0, 50: 15.25, 100: 0.5, 500: 0.5}),
    ("exponential", {"start": 30.0, "end": 0.5, "steps": 100},
     {0: 30.0, 50: 30.0 * (0.5 / 30.0) ** 0.5, 100: 0.5, 101: 0.5}),
    ("cosine", {"start": 1.0, "end": 0.0, "steps": 10}, {0: 1.0, 5: 0.5, 10: 0.0, 11: 0.0}),
    ("inverse_sqrt", {"start": 4.0, "end": 0.5, "steps": 1000, "warmup": 4},
     {0: 4.0, 12: 2.0, 252: 0.5, 1000: 0.5}),
    ("piecewise", {"points": [(0, 30.0), (10, 10.0), (20, 0.5)]}, {0: 30.0, 5: 20.0, 10: 10.0, 15: 5.25,
                                                                     25: 0.5}),
    ("piecewise", {"points": [(0, 30.0), (10, 10.0)], "interpolation": "step"}, {9: 30.0, 10: 10.0}),
])
def test_schedules(kind, kw, expected):
    s = schedule(kind, **kw)
    for t, v in expected.items():
        assert s(t) == pytest.approx(v, rel=1e-12), (kind, t)
    assert schedule(s.config()) == s  # the round trip state_dict relies on


def test_exponential_is_geometric_and_monotone():
    s = schedule("exponential", start=30.0, end=0.5, steps=1000)
    vals = [s(t) for t in range(1001)]
    ratios = [b / a for a, b in itertools.pairwise(vals)]
    assert max(ratios) == pytest.approx(min(ratios), rel=1e-9)
    assert ratios[0] == pytest.approx((0.5 / 30.0) ** (1 / 1000), rel=1e-12)


def test_paper_annealing_in_one_line():
    """c from 30 to 0.5 (the paper's schedule on one task): one line drives every noisy unit."""
    model = _model()
    annealer = actlab.NoiseAnnealer(model, "exponential", start=30.0, end=0.5, steps=100)
    assert annealer.level == 30.0 and set(annealer.levels().values()) == {30.0}
    for _ in range(100):
        annealer.step()
    assert annealer.level == 0.5
    assert [m.c for m in model if isinstance(m, actlab.noisy.NoisyActivation)] == [0.5, 0.5]
    assert "t=100" in repr(annealer)


def test_the_noise_actually_follows_the_level():
    """The spread of a unit's train-mode output scales with c (so setting c is not cosmetic)."""
    m = actlab.get("nani_hard_tanh").double().train()
    model = nn.Sequential(m)
    annealer = NoiseAnnealer(model, "linear", start=0.4, end=0.0, steps=2)
    x = torch.zeros(20000, dtype=torch.float64)
    spreads = []
    for _ in range(3):
        torch.manual_seed(0)
        spreads.append(float(model(x).std()))
        annealer.step()
    assert spreads[0] == pytest.approx(0.4, rel=0.03)
    assert spreads[1] == pytest.approx(0.2, rel=0.03)
    assert spreads[2] == 0.0


def test_state_dict_resumes_the_schedule():
    model = _model()
    a = NoiseAnnealer(model, "cosine", start=2.0, end=0.1, steps=50)
    for _ in range(17):
        a.step()
    state = a.state_dict()
    # a fresh model and annealer (as after a restart), then load: continues at step 17
    model2 = _model()
    b = NoiseAnnealer(model2, "constant", value=9.0)
    b.load_state_dict(state)
    assert b.t == 17 and b.level == a.level
    assert b.levels() == a.levels()
    a.step()
    b.step()
    assert b.level == a.level and b.levels() == a.levels()


def test_relative_mode_scales_each_units_own_c():
    model = _model()
    a = NoiseAnnealer(model, "linear", start=1.0, end=0.0, steps=4, relative=True)
    a.step()
    a.step()
    assert a.levels() == {"1": pytest.approx(0.25), "3": pytest.approx(0.1)}


def test_filter_and_callable_schedules():
    model = _model()
    a = NoiseAnnealer(model, lambda t: 1.0 / (t + 1), filter=lambda name, m: m.name.startswith("nan_"))
    a.step()
    assert a.levels() == {"1": 0.5}
    assert model[3].c == 0.2  # not driven


@pytest.mark.parametrize(("args", "message"), [
    (("warp",), "unknown schedule 'warp'; valid: constant, linear, exponential, cosine"),
    (("linear",), "start, end, steps missing"),
    (("exponential", {"start": 1.0, "end": 0.0, "steps": 10}), "valid: both > 0"),
    (("linear", {"start": -1.0, "end": 0.0, "steps": 10}), "start=-1 is invalid; valid: a noise level"),
    (("linear", {"start": 1.0, "end": 0.0, "steps": 0}), "steps=0 is invalid"),
    (("piecewise", {"points": [(5, 1.0), (3, 0.5)]}), "increase strictly"),
    (("cosine", {"start": 1.0, "end": 0.0, "steps": 5, "gamma": 2}), "unknown argument 'gamma'"),
])
def test_bad_schedules_give_one_line_errors(args, message):
    kind, kw = args[0], (args[1] if len(args) > 1 else {})
    with pytest.raises(ValueError, match=message.replace("(", r"\(")) as e:
        schedule(kind, **kw)
    assert "\n" not in str(e.value)


def test_annealer_needs_noisy_units_and_valid_levels():
    with pytest.raises(ValueError, match="has no noisy units"):
        NoiseAnnealer(nn.Sequential(nn.Linear(2, 2), nn.Tanh()), "constant", value=1.0)
    with pytest.raises(ValueError, match=r"c=-0.5 is out of range"):
        NoiseAnnealer(_model(), lambda t: -0.5)
    assert math.isfinite(NoiseAnnealer(_model(), "constant", value=0.0).level)
