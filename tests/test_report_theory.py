"""Report entries T1..T3 (issue 7, item 3: mean-field theory against measurement): each rule
(decide) on hand-made numbers, each experiment (measure) at tiny scale, and the theory numbers the
rules compare with against an independent numpy computation."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from actlab.report.claim import CONFIRMED, DEPENDS, INCONCLUSIVE, REFUTED, Context, Evidence
from actlab.report.claims import t1_meanfield_random_nets as t1
from actlab.report.claims import t2_trainability_depth as t2
from actlab.report.claims import t3_dynamical_isometry as t3


@pytest.fixture(autouse=True)
def _one_thread() -> Any:
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def tiny_ctx(tmp_path: Path) -> Context:
    return Context(tiny=True, quick=True, out=tmp_path, store=tmp_path / "s.sqlite", workers=1)


def check_evidence(ev: Evidence, keys: list[str]) -> dict[str, Any]:
    """>= 1 PNG figure with a caption, JSON-able numbers with ``keys`` (after the runner's round trip)."""
    assert ev.figures and all(f.png[:8] == b"\x89PNG\r\n\x1a\n" and f.caption for f in ev.figures)
    numbers = json.loads(json.dumps(ev.numbers, allow_nan=True))
    json.dumps(ev.setup)
    for k in keys:
        assert k in numbers, k
    return numbers


_Z, _W = np.polynomial.hermite_e.hermegauss(200)
_W = _W / _W.sum()


def _np_q_star(sw2: float, sb2: float) -> float:
    """tanh's length-map fixed point by plain iteration with numpy's Gauss-Hermite rule."""
    q = 1.0
    for _ in range(5000):
        q = sw2 * float(_W @ np.tanh(math.sqrt(q) * _Z) ** 2) + sb2
    return q


def _np_chi1(sw2: float, q: float) -> float:
    return sw2 * float(_W @ (1.0 - np.tanh(math.sqrt(q) * _Z) ** 2) ** 2)


# -- T1 -------------------------------------------------------------------------------------------------
def _t1_case(phase: str, qm: float, qs: float, q_star: float, rm: float, rs: float, inv: float) -> dict:
    return {"phase": phase, "sigma_w2": 1.0, "q_measured": qm, "q_measured_std": qs, "q_star": q_star,
            "ratio_measured": rm, "ratio_measured_std": rs, "inv_chi1": inv}


def _t1_numbers(*cases: dict, n: int = 2) -> dict[str, Any]:
    return {"cases": list(cases), "n_seeds": n, "tol_q": 0.05, "tol_ratio": 0.02}


def test_t1_decide_branches() -> None:
    good = _t1_case("ordered", 0.197, 0.002, 0.194, 1.320, 0.004, 1.318)
    v = t1.decide(_t1_numbers(good), True)
    assert v.verdict == CONFIRMED and "1.3200 vs 1.3180" in v.reason
    # q 10% off with a tight spread: refuted in both modes
    far = _t1_case("critical", 0.627, 0.002, 0.570, 1.0, 0.001, 1.0)
    for quick in (True, False):
        v = t1.decide(_t1_numbers(good, far), quick)
        assert v.verdict == REFUTED and "critical" in v.reason and "0.6270 vs 0.5700" in v.reason
    # ratio 3% off but the seeds scatter by 4%: inconclusive in quick mode, refuted in full mode
    noisy = _t1_case("chaotic", 1.064, 0.01, 1.064, 0.909, 0.036, 0.882)
    assert t1.decide(_t1_numbers(good, noisy), True).verdict == INCONCLUSIVE
    assert t1.decide(_t1_numbers(good, noisy), False).verdict == REFUTED
    # a single seed has no spread: the same 3% is resolved
    assert t1.decide(_t1_numbers(_t1_case("chaotic", 1.064, 0.0, 1.064, 0.909, 0.0, 0.882), n=1),
                     True).verdict == REFUTED


def test_t1_theory_values_independent() -> None:
    """q* and 1/chi_1 that T1 compares with, against numpy iteration; the issue's numbers."""
    for sw2 in (t1.ORDERED_SW2, t1.CHAOTIC_SW2):
        from actlab import theory

        r = theory.analyze("tanh", sw2, t1.SIGMA_B2)
        qs = _np_q_star(sw2, t1.SIGMA_B2)
        assert r.q_star == pytest.approx(qs, rel=1e-8)
        assert r.gradient_ratio == pytest.approx(1.0 / _np_chi1(sw2, qs), rel=1e-8)
    assert _np_q_star(1.0, 0.05) == pytest.approx(0.194, abs=5e-4)
    assert 1.0 / _np_chi1(1.0, _np_q_star(1.0, 0.05)) == pytest.approx(1.318, abs=1e-3)  # 1.3175


def test_t1_measure_tiny(tmp_path: Path) -> None:
    n = check_evidence(t1.measure(tiny_ctx(tmp_path)), ["cases", "n_seeds", "tol_q", "tol_ratio"])
    assert [c["phase"] for c in n["cases"]] == ["ordered", "critical", "chaotic"]
    assert [c["predicted_phase"] for c in n["cases"]] == ["ordered", "critical", "chaotic"]
    assert n["cases"][1]["inv_chi1"] == pytest.approx(1.0, abs=1e-6)
    t1.decide(n, True)  # runs on the measured numbers


# -- T3 -------------------------------------------------------------------------------------------------
def _t3_numbers(**nvar: tuple[float, float]) -> dict[str, Any]:
    base = {"tanh_orthogonal": (0.06, 0.054), "tanh_gaussian": (28.0, 32.0), "relu_orthogonal": (31.0, 32.0),
            "relu_gaussian": (45.0, 64.0)}
    base.update(nvar)
    cases = {k: {"nvar": m, "nvar_predicted": p, "expected": t3.EXPECTED[k]} for k, (m, p) in base.items()}
    return {"cases": cases, "depth": 32, "width": 128, "tight": 0.25, "wide": 1.0, "factor": 2.0}


def test_t3_decide_branches() -> None:
    v = t3.decide(_t3_numbers(), True)
    assert v.verdict == CONFIRMED and "tanh + orthogonal 0.06" in v.reason
    # orthogonal tanh not isometric: refuted
    v = t3.decide(_t3_numbers(tanh_orthogonal=(0.6, 0.054)), True)
    assert v.verdict == REFUTED and "0.6 is between" in v.reason
    # relu tightly spread: refuted
    assert t3.decide(_t3_numbers(relu_orthogonal=(0.1, 32.0)), False).verdict == REFUTED
    # the pattern holds but relu + gaussian is 3x off free probability
    assert t3.decide(_t3_numbers(relu_gaussian=(200.0, 64.0)), True).verdict == INCONCLUSIVE
    v = t3.decide(_t3_numbers(relu_gaussian=(200.0, 64.0)), False)
    assert v.verdict == DEPENDS and "200 vs predicted 64" in v.reason


def test_t3_free_probability_tanh_independent() -> None:
    """The tight case's prediction, sum_l (mu2/mu1^2 - 1) at q* = 1/64, by numpy quadrature."""
    from actlab import theory

    q = t3.Q_STAR
    d2 = (1.0 - np.tanh(math.sqrt(q) * _Z) ** 2) ** 2
    per_layer = float(_W @ d2**2) / float(_W @ d2) ** 2 - 1.0
    ci = theory.critical_init("tanh", q_star=q)
    s = theory.jacobian_spectrum("tanh", ci.sigma_w2, ci.sigma_b2, width=8, depth=32, weights="orthogonal")
    assert s.nvar_sq_predicted == pytest.approx(32 * per_layer, rel=1e-6)
    assert 32 * per_layer == pytest.approx(0.054, abs=1e-3)


def test_t3_measure_tiny(tmp_path: Path) -> None:
    n = check_evidence(t3.measure(tiny_ctx(tmp_path)), ["cases", "depth", "width", "tight", "wide", "factor"])
    assert set(n["cases"]) == set(t3.CASES)
    for c in n["cases"].values():
        assert c["mean_sq_predicted"] == pytest.approx(1.0, rel=1e-6)  # both at criticality
        assert c["nvar"] >= 0
    t3.decide(n, True)


# -- T2 -------------------------------------------------------------------------------------------------
def _t2_cell(depth: int, md: float, acc: float, spread: float = 0.0) -> dict[str, Any]:
    return {"depth": depth, "sigma_w2": 1.0, "max_depth": md, "side": t2.side(depth, md), "train_acc": acc,
            "train_acc_min": acc - spread, "train_acc_max": acc + spread}


def _t2_numbers(*cells: dict[str, Any]) -> dict[str, Any]:
    return {"cells": list(cells), "trained_acc": 0.3, "agree": 0.9, "min_cells": 2, "epochs": 5}


_T2_IN = [_t2_cell(4, 21.8, 0.93), _t2_cell(8, 21.8, 0.90), _t2_cell(4, 94.7, 0.94)]
_T2_OUT = [_t2_cell(16, 7.1, 0.10), _t2_cell(32, 7.1, 0.10), _t2_cell(8, 4.0, 0.10)]


def test_t2_side() -> None:
    assert t2.side(4, 21.8) == "inside" and t2.side(16, 21.8) == "near" and t2.side(33, 21.8) == "outside"
    assert t2.side(32, 1e9) == "inside"


def test_t2_decide_branches() -> None:
    v = t2.decide(_t2_numbers(*_T2_IN, *_T2_OUT), True)
    assert v.verdict == CONFIRMED and "3/3 nets inside" in v.reason and "3/3 beyond" in v.reason
    # a net far beyond the curve trains: refuted in both modes
    trains_out = _t2_cell(32, 7.1, 0.8, 0.05)
    for quick in (True, False):
        v = t2.decide(_t2_numbers(*_T2_IN, *_T2_OUT, trains_out), quick)
        assert v.verdict == REFUTED and "depth 32 at σw²=1 (0.80" in v.reason
    # ... unless its seeds straddle the threshold (quick mode only)
    straddling = _t2_cell(32, 7.1, 0.32, 0.1)
    assert t2.decide(_t2_numbers(*_T2_IN, *_T2_OUT, straddling), True).verdict == INCONCLUSIVE
    assert t2.decide(_t2_numbers(*_T2_IN, *_T2_OUT, straddling), False).verdict == REFUTED
    # an exception just below the threshold reads below it (0.2975 was printed "0.30")
    near_miss = [*_T2_IN, _t2_cell(4, 21.8, 0.2975), *[_t2_cell(4, 21.8, 0.95)] * 6]
    v = t2.decide(_t2_numbers(*near_miss, *_T2_OUT), False)
    assert v.verdict == CONFIRMED and "(0.297, 6ξc=21.8)" in v.reason, v.reason
    # nets inside the curve that did not train: quick inconclusive, full depends
    untrained_in = [_t2_cell(4, 94.7, 0.12), _t2_cell(8, 94.7, 0.11)]
    assert t2.decide(_t2_numbers(*_T2_IN, *untrained_in, *_T2_OUT), True).verdict == INCONCLUSIVE
    v = t2.decide(_t2_numbers(*_T2_IN, *untrained_in, *_T2_OUT), False)
    assert v.verdict == DEPENDS and "training budget" in v.reason
    # one side has too few scored cells
    assert t2.decide(_t2_numbers(*_T2_IN, _T2_OUT[0]), False).verdict == INCONCLUSIVE
    # cells near the curve do not count either way
    near = _t2_cell(16, 21.8, 0.95)
    assert near["side"] == "near"
    assert t2.decide(_t2_numbers(*_T2_IN, *_T2_OUT, near), False).verdict == CONFIRMED


def test_t2_prediction_matches_issue_numbers() -> None:
    """6 xi_c at sigma_b^2 = 0.05 from the issue's xi_c (3.6 at 1.0, 6.8 at 1.25, 15.8 at 1.5), and
    infinite on the critical line."""
    md, phases = t2._predict([1.0, 1.25, 1.5, t2._sigma_w2s()[4], 4.0])
    assert md[:3] == [pytest.approx(6 * 3.63, abs=0.1), pytest.approx(6 * 6.8, abs=0.1),
                      pytest.approx(6 * 15.8, abs=0.3)]
    assert md[3] == t2.DEPTH_CAP and phases == ["ordered", "ordered", "ordered", "critical", "chaotic"]


def test_t2_configs_share_shape_per_depth() -> None:
    from actlab.sweep.ensemble import group_key

    cfgs = t2.configs([0.5, 1.0], [4, 8], [0, 1], epochs=1, width=8)
    assert len(cfgs) == 8 and all(c.init == "sigma" and c.sigma_b2 == t2.SIGMA_B2 for c in cfgs)
    assert len({group_key(c) for c in cfgs}) == 2  # one vectorised ensemble per depth


def test_t2_measure_tiny(tmp_path: Path) -> None:
    keys = ["cells", "trained_acc", "agree", "min_cells", "epochs"]
    n = check_evidence(t2.measure(tiny_ctx(tmp_path)), keys)
    assert len(n["cells"]) == 4 and {c["side"] for c in n["cells"]} <= {"inside", "outside", "near"}
    assert all(0.0 <= c["train_acc"] <= 1.0 for c in n["cells"])
    t2.decide(n, True)
