"""Report claims C21..C31: each rule (decide) on hand-made numbers, each experiment (measure) at tiny
scale, and independent exact checks where the claim is exact."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.optimize import brentq

from actlab.report.claim import CONFIRMED, DEPENDS, INCONCLUSIVE, REFUTED, Context, Evidence
from actlab.report.claims import c21_fixed_points as c21
from actlab.report.claims import c22_hard_saturation as c22
from actlab.report.claims import c23_noisy_annealing as c23
from actlab.report.claims import c24_prelu_rrelu as c24
from actlab.report.claims import c25_sigmoid_clipping as c25
from actlab.report.claims import c26_deep_no_pretraining as c26
from actlab.report.claims import c27_noisy_relu as c27
from actlab.report.claims import c28_step_no_gradient as c28
from actlab.report.claims import c29_softmax_vs_sigmoid as c29
from actlab.report.claims import c30_relu_recurrent as c30
from actlab.report.claims import c31_softplus_vs_relu as c31


def tiny_ctx(tmp_path: Path) -> Context:
    return Context(tiny=True, quick=True, out=tmp_path, store=tmp_path / "s.sqlite", workers=1)


def check_evidence(ev: Evidence, keys: list[str]) -> dict[str, Any]:
    """Evidence has >= 1 PNG figure, JSON-able numbers with ``keys``; returns the numbers after the
    JSON round trip the runner makes."""
    assert ev.figures and all(f.png[:8] == b"\x89PNG\r\n\x1a\n" for f in ev.figures)
    assert all(f.caption for f in ev.figures)
    numbers = json.loads(json.dumps(ev.numbers, allow_nan=True))
    json.dumps(ev.setup)
    for k in keys:
        assert k in numbers, k
    return numbers


# -- C21 fixed points --------------------------------------------------------------------------------
def _c21_numbers(**parts: bool) -> dict[str, Any]:
    base = {k: True for k in ("hard_sigmoid_is_2_3", "sigmoid_about_0_69", "hard_tanh_all_of_unit_interval",
                              "tanh_only_0", "sigmoid_attracts", "tanh_attracts", "catalog_agrees")}
    base.update(parts)
    return {"parts": base, "sigmoid": {"fixed_point": 0.69}, "stated_tol": 0.005}


def test_c21_decide() -> None:
    assert c21.decide(_c21_numbers(), True).verdict == CONFIRMED
    v = c21.decide(_c21_numbers(sigmoid_about_0_69=False) | {"sigmoid": {"fixed_point": 0.659046}}, True)
    assert v.verdict == REFUTED and "0.659046" in v.reason
    assert c21.decide(_c21_numbers(tanh_attracts=False), False).verdict == REFUTED


def test_c21_measure_tiny(tmp_path: Path) -> None:
    n = check_evidence(c21.measure(tiny_ctx(tmp_path)), ["parts", "sigmoid", "stated_tol"])
    # independent solvers: closed form for hard-sigmoid, brentq for sigmoid
    assert n["hard_sigmoid"]["roots"] == [pytest.approx(2 / 3, abs=1e-15)]
    ref = brentq(lambda x: 1 / (1 + math.exp(-x)) - x, 0.0, 1.0, xtol=1e-15)
    assert n["sigmoid"]["roots"] == [pytest.approx(ref, abs=1e-12)]
    assert abs(ref - 0.69) > 0.005  # the stated value misses; the measured part must say so
    assert n["parts"]["sigmoid_about_0_69"] is False
    assert n["hard_tanh"]["roots"] == [] and n["parts"]["hard_tanh_all_of_unit_interval"]
    assert n["tanh"]["roots"] == [0.0]
    assert n["parts"]["sigmoid_attracts"] and n["parts"]["catalog_agrees"]


def test_c21_monotone_convergence_detects_oscillation() -> None:
    # x <- -x/2 + 0 converges but crosses 0 every step: not a monotone approach
    traj = np.array([[1.0], [-0.5], [0.25]])
    assert not c21._converges_monotonically(traj, 0.0)
    assert c21._converges_monotonically(np.array([[1.0, -1.0], [0.5, -0.5], [0.1, -0.2]]), 0.0)


# -- C22 hard saturation -----------------------------------------------------------------------------
def _c22_numbers(**parts: bool) -> dict[str, Any]:
    base = dict.fromkeys(("hard_sigmoid_hard_at_2", "hard_tanh_hard_at_1", "sigmoid_soft", "tanh_soft"),
                         True)
    base.update(parts)
    return {"parts": base, "hard_sigmoid": {"max_abs_grad_beyond": 0.0},
            "hard_tanh": {"max_abs_grad_beyond": 0.0},
            "sigmoid": {"min_analytic_derivative": 4e-18}, "tanh": {"min_analytic_derivative": 7e-35}}


def test_c22_decide() -> None:
    assert c22.decide(_c22_numbers(), True).verdict == CONFIRMED
    v = c22.decide(_c22_numbers(hard_tanh_hard_at_1=False), True)
    assert v.verdict == REFUTED and "hard tanh hard at 1" in v.reason
    assert c22.decide(_c22_numbers(sigmoid_soft=False), False).verdict == REFUTED


def test_c22_measure_tiny(tmp_path: Path) -> None:
    n = check_evidence(c22.measure(tiny_ctx(tmp_path)),
                       ["parts", "hard_sigmoid", "hard_tanh", "sigmoid", "tanh"])
    # independent check of the thresholds: 0.25 x + 0.5 reaches 1 exactly at x = 2, x reaches 1 at x = 1
    assert n["hard_sigmoid"]["value_at_threshold"] == [0.0, 1.0]
    assert n["hard_tanh"]["value_at_threshold"] == [-1.0, 1.0]
    assert n["hard_sigmoid"]["min_abs_grad_inside"] == 0.25 and n["hard_tanh"]["min_abs_grad_inside"] == 1.0
    assert all(n["parts"].values())
    # 1 + e^-x rounds to 1 once e^-x < 2^-24 (float32) / 2^-53 (float64): x > 16.64 / 36.74, so
    # sigmoid(x) == 1 and autograd's y (1 - y) == 0 from about there
    assert 15.0 < n["sigmoid"]["autograd_zero_from_float32"] < 18.0
    assert 36.0 < n["sigmoid"]["autograd_zero_from_float64"] < 38.0


# -- C25 sigmoid "clipping" --------------------------------------------------------------------------
def test_c25_decide() -> None:
    at = {"1.5": 0.8176, "-0.5": 0.3775}
    n = {"fraction_above_1_mapped_to_1": 0.0, "fraction_below_0_mapped_to_0": 0.0, "sigmoid_at": at,
         "max_gap_above_1": 0.2687, "max_value_below_0": 0.4998}
    v = c25.decide(n, True)
    assert v.verdict == REFUTED and "0.8176" in v.reason
    assert c25.decide(n | {"fraction_above_1_mapped_to_1": 1.0, "fraction_below_0_mapped_to_0": 1.0},
                      True).verdict == CONFIRMED
    assert c25.decide(n | {"fraction_above_1_mapped_to_1": 1.0}, True).verdict == REFUTED


def test_c25_measure_tiny(tmp_path: Path) -> None:
    n = check_evidence(c25.measure(tiny_ctx(tmp_path)), ["fraction_above_1_mapped_to_1", "sigmoid_at"])
    assert n["sigmoid_at"]["1.5"] == pytest.approx(1 / (1 + math.exp(-1.5)), abs=1e-15)
    assert n["fraction_above_1_mapped_to_1"] == 0.0 and n["fraction_below_0_mapped_to_0"] == 0.0
    # the gap just above 1 is 1 - sigmoid(1) (independent formula)
    assert n["max_gap_above_1"] == pytest.approx(1 - 1 / (1 + math.exp(-1.0)), abs=1e-3)


# -- C28 step ----------------------------------------------------------------------------------------
def _c28_numbers(step_zero: bool = True, sig_max: float = 0.1, nonzero: int = 0) -> dict[str, Any]:
    tr = {"step": {"below_weight_grad_all_zero": step_zero,
                   "below_weight_grad_max": 0.0 if step_zero else 0.2,
                   "test_acc_mean": 0.54, "test_acc_std": 0.01},
          "sigmoid": {"below_weight_grad_max": sig_max, "test_acc_mean": 0.95, "test_acc_std": 0.01}}
    return {"training": tr, "autograd_nonzero": nonzero, "analytic_nonzero": 0, "grid_points": 16385}


def test_c28_decide() -> None:
    v = c28.decide(_c28_numbers(), True)
    assert v.verdict == CONFIRMED and "0.540" in v.reason
    assert c28.decide(_c28_numbers(step_zero=False), True).verdict == REFUTED
    assert c28.decide(_c28_numbers(nonzero=3), False).verdict == REFUTED
    assert c28.decide(_c28_numbers(sig_max=0.0), True).verdict == INCONCLUSIVE
    assert c28.decide(_c28_numbers(sig_max=0.0), False).verdict == REFUTED


def test_c28_measure_tiny(tmp_path: Path) -> None:
    n = check_evidence(c28.measure(tiny_ctx(tmp_path)), ["training", "autograd_nonzero", "analytic_nonzero"])
    assert n["autograd_nonzero"] == 0 and n["values_around_0"] == [0.0, 0.0, 1.0]
    step, sig = n["training"]["step"], n["training"]["sigmoid"]
    assert step["below_weight_grad_values"] > 0 and step["below_weight_grad_all_zero"]
    assert sig["below_weight_grad_max"] > 0
    assert all(g > 0 for g in step["head_weight_grad_last"])  # the head above the step does learn


# -- C29 softmax vs sigmoid ----------------------------------------------------------------------------
def test_c29_decide() -> None:
    n = {"two_class": {"max_abs_diff": {"prob": 1e-16, "loss": 1e-15, "grad": 1e-16}},
         "exclusive": {"1": {"sigmoid_fraction_two_or_more_above_half": 0.9},
                       "jacobian": {"softmax_max_offdiag": -1e-13, "sigmoid_max_abs_offdiag": 0.0}},
         "two_class_equal": True, "softmax_exclusive": True, "sigmoids_not_exclusive": True}
    assert c29.decide(n, True).verdict == CONFIRMED
    for k in ("two_class_equal", "softmax_exclusive", "sigmoids_not_exclusive"):
        v = c29.decide(n | {k: False}, True)
        assert v.verdict == REFUTED and k.replace("_", " ") in v.reason


def test_c29_measure_tiny(tmp_path: Path) -> None:
    n = check_evidence(c29.measure(tiny_ctx(tmp_path)),
                       ["two_class", "exclusive", "two_class_equal", "softmax_exclusive",
                        "sigmoids_not_exclusive"])
    assert n["two_class_equal"] and n["softmax_exclusive"] and n["sigmoids_not_exclusive"]
    # the Jacobian autograd gives matches the closed form diag(p) - p p^T
    assert n["exclusive"]["jacobian"]["softmax_vs_formula_max_abs_diff"] < 1e-15


def test_c29_two_class_identity_independent() -> None:
    # e^a / (e^a + e^b) = 1 / (1 + e^(a - b)) with plain math, no catalog
    for a, b in [(0.3, -1.2), (5.0, 5.0), (-20.0, 3.0)]:
        ref = 1 / (1 + math.exp(a - b))
        assert math.exp(b) / (math.exp(a) + math.exp(b)) == pytest.approx(ref, rel=1e-14)


# -- C24 PReLU / RReLU ---------------------------------------------------------------------------------
def _c24_numbers(moves: tuple[float, ...] = (0.15, 0.16), ks_p: float = 0.8, eval_dev: float = 0.0,
                 exact: bool = True) -> dict[str, Any]:
    return {"exact": {"prelu_0_equals_relu": exact, "prelu_001_equals_leaky_relu": True},
            "rrelu": {"lower": 0.125, "upper": 1 / 3, "train_slope_min": 0.1251, "train_slope_max": 0.3332,
                      "train_ks_p": ks_p, "train_calls_equal_fraction": 0.0, "train_positive_unchanged": True,
                      "eval_max_abs_slope_minus_mid": eval_dev, "eval_calls_identical": True,
                      "uniform_mean": 0.2292},
            "prelu": {"init": 0.25, "min_move": 0.05, "mean_abs_move_per_seed": list(moves),
                      "learned_range": [0.02, 0.76], "fraction_relu_like": 0.02, "fraction_negative": 0.0}}


def test_c24_decide() -> None:
    assert c24.decide(_c24_numbers(), True).verdict == CONFIRMED
    assert c24.decide(_c24_numbers(moves=(0.15, 0.01)), True).verdict == INCONCLUSIVE
    assert c24.decide(_c24_numbers(moves=(0.15, 0.01)), False).verdict == REFUTED
    v = c24.decide(_c24_numbers(ks_p=1e-6), True)
    assert v.verdict == REFUTED and "uniform" in v.reason
    assert c24.decide(_c24_numbers(eval_dev=0.01), True).verdict == REFUTED
    assert c24.decide(_c24_numbers(exact=False), True).verdict == REFUTED


def test_c24_measure_tiny(tmp_path: Path) -> None:
    n = check_evidence(c24.measure(tiny_ctx(tmp_path)), ["exact", "rrelu", "prelu", "test_acc"])
    assert n["exact"]["prelu_0_equals_relu"] and n["exact"]["prelu_001_equals_leaky_relu"]
    rr = n["rrelu"]
    # PyTorch's RReLU defaults l = 1/8, u = 1/3; eval slope (l + u) / 2 = 11/48
    assert rr["uniform_mean"] == pytest.approx(11 / 48)
    assert rr["eval_max_abs_slope_minus_mid"] < 1e-12 and rr["train_calls_equal_fraction"] < 0.01
    assert len(n["prelu"]["slopes_by_seed"]) == 1 and len(n["prelu"]["slopes_by_seed"][0]) == 2 * 16
    assert n["prelu"]["mean_abs_move_per_seed"][0] > 0  # one epoch already moves the slopes


# -- C23 noisy units with annealing ------------------------------------------------------------------
def _c23_numbers(n30: float = 0.92, n5: float = 0.9, c0: float = 0.16, hard: float = 0.3, sd: float = 0.02,
                 flows: float = 1.0, const: float = 0.8) -> dict[str, Any]:
    def acc(m: float) -> dict[str, float]:
        return {"mean": m, "std": sd}

    gf = {"hard_tanh_nonzero_fraction": 0.0,
          "c=1": {"noise_grad_nonzero_fraction": flows, "noise_grad_std": 0.07},
          "c=30": {"noise_grad_nonzero_fraction": flows, "noise_grad_std": 2.0}}
    final = {"nan_anneal_30": acc(n30), "nan_anneal_5": acc(n5), "nan_c0": acc(c0), "hard_tanh": acc(hard),
             "tanh": acc(0.9), "nan_const_30": acc(const)}
    return {"gradient_flow": gf, "final_test_acc": final}


def test_c23_decide() -> None:
    assert c23.decide(_c23_numbers(), True).verdict == CONFIRMED
    v = c23.decide(_c23_numbers(n5=0.32), True)
    assert v.verdict == DEPENDS and "noise scale" in v.reason and "0.920" in v.reason
    assert c23.decide(_c23_numbers(c0=0.9), True).verdict == DEPENDS
    # annealed ahead of hard-tanh on average only: inconclusive; behind: refuted (both modes)
    assert c23.decide(_c23_numbers(n30=0.31), True).verdict == INCONCLUSIVE
    assert c23.decide(_c23_numbers(n30=0.31), False).verdict == INCONCLUSIVE
    assert c23.decide(_c23_numbers(n30=0.29), False).verdict == REFUTED
    # the annealing part: constant noise better -> depends (noise yes, annealing no); a tie -> inconclusive
    v = c23.decide(_c23_numbers(const=0.97), False)
    assert v.verdict == DEPENDS and "annealing part does not" in v.reason
    assert c23.decide(_c23_numbers(const=0.92), False).verdict == INCONCLUSIVE
    assert c23.decide(_c23_numbers(flows=0.5), True).verdict == REFUTED
    # overlapping intervals (large spread) are not "beats"
    assert c23.decide(_c23_numbers(n30=0.6, sd=0.2), True).verdict == INCONCLUSIVE


def test_c23_measure_tiny(tmp_path: Path) -> None:
    n = check_evidence(c23.measure(tiny_ctx(tmp_path)), ["gradient_flow", "final_test_acc"])
    gf = n["gradient_flow"]
    assert gf["hard_tanh_nonzero_fraction"] == 0.0
    # NAN's deterministic part alpha h + (1 - alpha) u has slope 1 - alpha = -0.15 beyond the thresholds
    assert gf["nan_c0_gradient"] == [pytest.approx(-0.15), pytest.approx(-0.15)]
    assert gf["c=1"]["noise_grad_nonzero_fraction"] > 0.99 and gf["c=1"]["eval_noise_grad_max_abs"] == 0.0
    assert set(n["final_test_acc"]) == set(c23.VARIANTS)
    assert 0.9 < n["saturated_at_init"] <= 1.0  # the hard problem: most units start saturated


# -- C26 deep nets without pre-training ----------------------------------------------------------------
def _c26_numbers(relu: float = 0.94, sig: float = 0.1, tanh: float = 0.1, sd: float = 0.01) -> dict[str, Any]:
    acc = {f"{a} x8": {"mean": m, "std": sd} for a, m in (("relu", relu), ("sigmoid", sig), ("tanh", tanh))}
    acc["sigmoid x2"] = {"mean": 0.8, "std": sd}
    return {"test_acc": acc, "trains_at": 0.8, "fails_at": 0.2, "depth": 8}


def test_c26_decide() -> None:
    assert c26.decide(_c26_numbers(), True).verdict == CONFIRMED
    v = c26.decide(_c26_numbers(tanh=0.96), True)
    assert v.verdict == DEPENDS and "tanh" in v.reason and "0.960" in v.reason
    assert c26.decide(_c26_numbers(relu=0.1), True).verdict == REFUTED
    assert c26.decide(_c26_numbers(relu=0.5), True).verdict == INCONCLUSIVE
    assert c26.decide(_c26_numbers(relu=0.5), False).verdict == REFUTED
    assert c26.decide(_c26_numbers(sig=0.5), True).verdict == INCONCLUSIVE
    assert c26.decide(_c26_numbers(sig=0.5), False).verdict == DEPENDS


def test_c26_measure_tiny(tmp_path: Path) -> None:
    n = check_evidence(c26.measure(tiny_ctx(tmp_path)), ["test_acc", "trains_at", "fails_at", "depth"])
    assert set(n["test_acc"]) == {"relu x8", "sigmoid x8", "tanh x8", "sigmoid x2"}
    assert all(s == "ok" for d in n["test_acc"].values() for s in d["statuses"])


# -- C27 noisy ReLU ------------------------------------------------------------------------------------
def _c27_numbers(noisy: float = 0.96, relu: float = 0.966, sd: float = 0.005, formula: bool = True
                 ) -> dict[str, Any]:
    def d(m: float) -> dict[str, Any]:
        return {"final_mean": m, "final_std": sd, "mid_mean": m - 0.02, "mid_epoch": 4}

    return {"formula": {"train_mean_matches": formula, "eval_is_relu": True}, "margin": 0.02,
            "test_acc": {"relu": d(relu), "noisy_relu": d(noisy)}, "gap": relu - noisy}


def test_c27_decide() -> None:
    assert c27.decide(_c27_numbers(), True).verdict == CONFIRMED
    assert c27.decide(_c27_numbers(noisy=0.99), True).verdict == CONFIRMED  # better than relu
    v = c27.decide(_c27_numbers(noisy=0.9), True)
    assert v.verdict == DEPENDS and "budget" in v.reason
    assert c27.decide(_c27_numbers(noisy=0.93, sd=0.03), True).verdict == INCONCLUSIVE
    assert c27.decide(_c27_numbers(noisy=0.93, sd=0.03), False).verdict == DEPENDS
    assert c27.decide(_c27_numbers(noisy=0.3), False).verdict == REFUTED
    assert c27.decide(_c27_numbers(formula=False), True).verdict == INCONCLUSIVE


def test_c27_measure_tiny(tmp_path: Path) -> None:
    n = check_evidence(c27.measure(tiny_ctx(tmp_path)), ["formula", "test_acc", "gap", "margin"])
    assert n["formula"]["eval_is_relu"] and n["formula"]["train_mean_matches"]
    # E max(0, sZ) at x = 0 with s^2 = sigmoid(0) = 1/2 is s / sqrt(2 pi) = 1 / (2 sqrt(pi))
    assert n["formula"]["points"]["0"]["expected_mean"] == pytest.approx(1 / (2 * math.sqrt(math.pi)))


# -- C30 ReLU in recurrent nets ------------------------------------------------------------------------
def _c30_model(tanh: float, relu: float, sd: float = 0.005, diverged: int = 0) -> dict[str, Any]:
    d = {"tanh": {"mean": tanh, "std": sd}, "relu": {"mean": relu, "std": sd, "diverged": diverged}}
    d["relu_state"] = c30._state(d, 0.02, 0.10)
    return d


def test_c30_states_and_decide() -> None:
    assert _c30_model(0.92, 0.91)["relu_state"] == "suitable"
    assert _c30_model(0.92, 0.95)["relu_state"] == "suitable"
    assert _c30_model(0.92, 0.88)["relu_state"] == "trails"
    assert _c30_model(0.92, 0.88, sd=0.03)["relu_state"] == "unclear"
    assert _c30_model(0.92, 0.5)["relu_state"] == "unsuitable"
    assert _c30_model(0.92, 0.92, diverged=1)["relu_state"] == "unsuitable"

    def n(*models: dict[str, Any]) -> dict[str, Any]:
        return {"models": dict(zip(("lstm", "gru"), models, strict=False)), "margin": 0.02, "far": 0.10}

    assert c30.decide(n(_c30_model(0.92, 0.5), _c30_model(0.9, 0.1)), True).verdict == CONFIRMED
    v = c30.decide(n(_c30_model(0.92, 0.915)), True)
    assert v.verdict == REFUTED and "0.915" in v.reason
    v = c30.decide(n(_c30_model(0.92, 0.88)), True)
    assert v.verdict == DEPENDS and "budget" in v.reason
    assert c30.decide(n(_c30_model(0.92, 0.88, sd=0.03)), True).verdict == INCONCLUSIVE
    assert c30.decide(n(_c30_model(0.92, 0.88, sd=0.03)), False).verdict == DEPENDS
    v = c30.decide(n(_c30_model(0.92, 0.5), _c30_model(0.9, 0.9)), False)
    assert v.verdict == DEPENDS and "on the model" in v.reason


def test_c30_measure_tiny(tmp_path: Path) -> None:
    n = check_evidence(c30.measure(tiny_ctx(tmp_path)), ["models", "margin", "far"])
    assert set(n["models"]) == {"lstm", "gru"}  # tiny runs both models, one seed, one epoch
    for d in n["models"].values():
        assert d["relu_state"] in ("suitable", "trails", "unclear", "unsuitable")
        assert d["tanh"]["statuses"] == ["ok"]


# -- C31 softplus vs ReLU ------------------------------------------------------------------------------
def _c31_setup(relu: float, soft: float, sd: float = 0.004, n: int = 8) -> dict[str, Any]:
    d = {"relu": {"mean": relu, "std": sd, "values": [relu] * n},
         "softplus": {"mean": soft, "std": sd, "values": [soft] * n},
         "relu_minus_softplus": relu - soft, "se_diff": math.sqrt(2 * sd**2 / n)}
    d["softplus_state"] = c31._state(d)
    return d


def test_c31_decide() -> None:
    def n(*setups: dict[str, Any]) -> dict[str, Any]:
        return {"setups": {f"s{i}": s for i, s in enumerate(setups)}}

    worse, better, tied = _c31_setup(0.965, 0.95), _c31_setup(0.95, 0.965), _c31_setup(0.96, 0.958)
    # sd 0.004 over 8 seeds: SE of the difference 0.002, t(7) = 2.36; a gap of 2.25 SE is a tie, 2.5 SE
    # is "worse"; with 3 seeds (t(2) = 4.30) 3.35 SE is still a tie
    assert _c31_setup(0.9675, 0.9630)["softplus_state"] == "tied"
    assert _c31_setup(0.9675, 0.9625)["softplus_state"] == "worse"
    assert _c31_setup(0.9675, 0.9612, n=3, sd=0.0023)["softplus_state"] == "tied"
    states = (worse["softplus_state"], better["softplus_state"], tied["softplus_state"])
    assert states == ("worse", "better", "tied")
    assert c31.decide(n(worse, worse), True).verdict == CONFIRMED
    assert c31.decide(n(worse, better), True).verdict == DEPENDS
    assert c31.decide(n(worse, tied), True).verdict == INCONCLUSIVE
    assert c31.decide(n(worse, tied), False).verdict == DEPENDS
    assert c31.decide(n(tied, tied), True).verdict == INCONCLUSIVE
    # never worse: refuted only if better everywhere; a tie (nothing resolved) is inconclusive in full too
    assert c31.decide(n(tied, better), False).verdict == INCONCLUSIVE
    v = c31.decide(n(better, better), False)
    assert v.verdict == REFUTED and "0.9650" in v.reason


def test_c31_measure_tiny(tmp_path: Path) -> None:
    n = check_evidence(c31.measure(tiny_ctx(tmp_path)), ["setups"])
    assert set(n["setups"]) == set(c31.SETUPS)
    for d in n["setups"].values():
        assert d["softplus_state"] in ("worse", "better", "tied")
        assert d["relu_minus_softplus"] == pytest.approx(d["relu"]["mean"] - d["softplus"]["mean"])
