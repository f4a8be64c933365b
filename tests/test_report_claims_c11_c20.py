"""Report claims C11..C20: each ``decide`` on hand-made numbers (every verdict branch), each ``measure``
at tiny scale (evidence with a PNG figure and the numbers ``decide`` reads), and independent checks where
the claim is exact."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from actlab.report.claim import CONFIRMED, DEPENDS, INCONCLUSIVE, REFUTED, Context, Evidence

torch.set_num_threads(1)


def _tiny(tmp_path: Path) -> Context:
    return Context(tiny=True, quick=True, out=tmp_path, store=tmp_path / "s.sqlite", workers=1)


def _check_evidence(ev: Evidence, decide: Any) -> None:
    assert isinstance(ev, Evidence)
    assert ev.figures and all(f.png.startswith(b"\x89PNG") and f.caption.strip() for f in ev.figures)
    import json

    numbers = json.loads(json.dumps(ev.numbers))  # the runner's JSON round trip
    v = decide(numbers, True)
    assert v.verdict in (CONFIRMED, REFUTED, DEPENDS, INCONCLUSIVE)
    assert v.reason


# -- C18 softplus ---------------------------------------------------------------------------------
from actlab.report.claims import c18_softplus as c18  # noqa: E402

C18_OK: dict[str, Any] = {
    "max_err_autograd": 2e-9, "max_err_declared_derivative": 2e-9, "max_err_finite_differences": 3e-10,
    "gap_at_0": math.log(2), "gap_at_0_exact": math.log(2), "gap_min": 0.0, "gap_decreasing_in_abs_x": True,
    "gap_at": {"10.0": 4.54e-5}, "derivative_max_jump": [[0.002, 5e-4], [0.0002, 5e-5]],
    "tol_catalog": 1e-8, "tol_finite_diff": 1e-7, "gap_at_10_max": 1e-4,
}


def test_c18_decide_branches() -> None:
    assert c18.decide(C18_OK, True).verdict == CONFIRMED
    bad = copy.deepcopy(C18_OK)
    bad["max_err_autograd"] = 0.1  # e.g. derivative of softplus taken as tanh
    v = c18.decide(bad, True)
    assert v.verdict == REFUTED and "autograd" in v.reason
    bad = copy.deepcopy(C18_OK)
    bad["derivative_max_jump"] = [[0.002, 1.0], [0.0002, 1.0]]  # a kink like relu's
    assert c18.decide(bad, False).verdict == REFUTED


def test_c18_measure_tiny(tmp_path: Path) -> None:
    ev = c18.measure(_tiny(tmp_path))
    _check_evidence(ev, c18.decide)
    n = ev.numbers
    assert n["max_err_autograd_below_threshold"] < 1e-14  # float64: sigmoid exactly up to rounding
    assert n["gap_at_0"] == pytest.approx(math.log(2), abs=1e-15)


def test_c18_independent_derivative() -> None:
    """softplus'(x) = e^x / (1 + e^x) by the quotient rule, evaluated with Python floats."""
    import actlab

    for x in (-8.0, -1.0, 0.0, 0.5, 3.0):
        t = torch.tensor([x], dtype=torch.float64, requires_grad=True)
        (g,) = torch.autograd.grad(actlab.functional.softplus(t).sum(), t)
        assert float(g) == pytest.approx(math.exp(x) / (1 + math.exp(x)), rel=1e-14)


# -- C19 relu idempotent --------------------------------------------------------------------------
from actlab.report.claims import c19_relu_idempotent as c19  # noqa: E402


def test_c19_decide_branches() -> None:
    assert c19.decide({"n_values": 10, "relu_mismatches": 0, "leaky_mismatches": 4, "max_k": 5},
                      True).verdict == CONFIRMED
    v = c19.decide({"n_values": 10, "relu_mismatches": 3, "leaky_mismatches": 4, "max_k": 5}, True)
    assert v.verdict == REFUTED and "3" in v.reason
    with pytest.raises(ValueError, match="control"):
        c19.decide({"n_values": 10, "relu_mismatches": 0, "leaky_mismatches": 0, "max_k": 5}, True)


def test_c19_measure_tiny(tmp_path: Path) -> None:
    ev = c19.measure(_tiny(tmp_path))
    _check_evidence(ev, c19.decide)
    assert set(ev.numbers["per_dtype"]) == {"float16", "bfloat16", "float32", "float64"}
    assert ev.numbers["leaky_mismatches"] > 0


def test_c19_bit_comparison_detects_a_difference() -> None:
    a = torch.tensor([0.0, 1.0, float("nan")])
    assert c19._same_bits(a, a.clone()) == 0
    assert c19._same_bits(a, torch.tensor([-0.0, 1.0, float("nan")])) == 1  # -0 and +0 differ in bits
    assert c19._equal_values(a, torch.tensor([-0.0, 1.0, float("nan")])) == 0


# -- C20 softmax ----------------------------------------------------------------------------------
from actlab.report.claims import c20_softmax as c20  # noqa: E402

_SCALE_OK = {"min": 0.0, "max": 1.0, "max_abs_sum_minus_1": 2e-7, "inversions": 0, "ties": 5,
             "ordered_pairs": 90, "max_abs_err_vs_exact": 1e-7, "all_finite": True}
C20_OK: dict[str, Any] = {
    "per_scale": {"1.0": dict(_SCALE_OK), "1000.0": dict(_SCALE_OK)},
    "example": {"max_abs_diff_stated": 4e-9},
    "naive_first_overflow_max_input": {"float32": 88.7228394, "float64": 709.7827129},
    "predicted_overflow": {"float32": 88.72283905, "float64": 709.78271289},
    "stable_all_finite": {"float32": True, "float64": True},
    "stable_max_abs_err": {"float32": 6e-8, "float64": 1e-16},
    "sum_tol": 1e-6, "abs_tol": 1e-6,
}


def test_c20_decide_branches() -> None:
    assert c20.decide(C20_OK, True).verdict == CONFIRMED
    bad = copy.deepcopy(C20_OK)
    bad["per_scale"]["1.0"]["inversions"] = 2
    v = c20.decide(bad, True)
    assert v.verdict == REFUTED and "order" in v.reason
    bad = copy.deepcopy(C20_OK)
    bad["naive_first_overflow_max_input"]["float32"] = 120.0  # overflow not where ln(max) says
    assert c20.decide(bad, True).verdict == REFUTED
    bad = copy.deepcopy(C20_OK)
    bad["stable_all_finite"]["float32"] = False
    assert "max" in c20.decide(bad, True).reason


def test_c20_measure_tiny(tmp_path: Path) -> None:
    ev = c20.measure(_tiny(tmp_path))
    _check_evidence(ev, c20.decide)
    for k in ("float32", "float64"):  # the overflow onset is ln(largest float) to input precision
        assert ev.numbers["naive_first_overflow_max_input"][k] == pytest.approx(
            math.log(float(np.finfo(k).max)), abs=1e-4)


def test_c20_exact_reference_and_naive_overflow() -> None:
    """The mpmath reference against closed forms, and the naive form's NaN in float64."""
    ref = c20._exact(np.array([[0.0, math.log(3.0)]]))[0]
    assert ref == pytest.approx([0.25, 0.75], abs=1e-16)
    with np.errstate(over="ignore", invalid="ignore"):
        assert np.isnan(c20._naive(np.array([1010.0, 1000.0, 990.0]))).any()
    assert c20._stable(np.array([1010.0, 1000.0, 990.0])) == pytest.approx(
        c20._exact(np.array([[20.0, 10.0, 0.0]]))[0], rel=1e-13)


# -- C17 SELU self-normalisation ------------------------------------------------------------------
from actlab.report.claims import c17_selu_selfnorm as c17  # noqa: E402


def _c17_run(mean: float, var: float, near: bool, first_near: bool = True) -> dict[str, Any]:
    half = {"mean": mean, "var": var, "mean_sd": 0.01, "var_sd": 0.02, "near": near}
    return {"first_half": dict(half, near=first_near), "second_half": half, "last_mean": mean,
            "last_var": var}


def test_c17_decide_branches() -> None:
    runs = {k: _c17_run(0.0, 0.97, True, first_near=(k == "N(0, 1)")) for k in c17.SELU_INPUTS}
    numbers = {"depth": 64, "selu_lecun": runs,
               "controls": {"selu+kaiming_normal": _c17_run(12.0, 500.0, False, False)}}
    v = c17.decide(numbers, True)
    assert v.verdict == CONFIRMED and "selu+kaiming_normal" in v.reason
    bad = copy.deepcopy(numbers)
    bad["selu_lecun"]["N(0, 4)"] = _c17_run(0.0, 1.3, False, False)  # not pulled back to 1
    v = c17.decide(bad, True)
    assert v.verdict == REFUTED and "N(0, 4)" in v.reason
    bad = copy.deepcopy(numbers)
    bad["selu_lecun"]["N(0, 1)"] = _c17_run(0.0, 0.97, True, first_near=False)
    assert c17.decide(bad, False).verdict == REFUTED


def test_c17_measure_tiny(tmp_path: Path) -> None:
    ev = c17.measure(_tiny(tmp_path))
    _check_evidence(ev, c17.decide)
    assert set(ev.numbers["selu_lecun"]) == set(c17.SELU_INPUTS)
    assert ev.numbers["theory_selu_q_star"]["lecun_normal"] == pytest.approx(1.0, abs=1e-6)


def test_c17_selu_fixed_point_by_quadrature() -> None:
    """The reason SELU + LeCun keeps (0, 1): E[selu(z)] = 0 and E[selu(z)^2] = 1 for z ~ N(0, 1),
    here by the trapezoid rule on a fine grid with the catalog's selu (independent of actlab.theory)."""
    import actlab

    zz = np.linspace(-12, 12, 400_001)
    pdf = np.exp(-zz**2 / 2) / math.sqrt(2 * math.pi)
    f = actlab.functional.selu(torch.tensor(zz)).numpy()
    assert np.trapezoid(f * pdf, zz) == pytest.approx(0.0, abs=1e-6)
    assert np.trapezoid(f**2 * pdf, zz) == pytest.approx(1.0, abs=1e-6)


# -- C11 dead ReLU --------------------------------------------------------------------------------
from actlab.report.claims import c11_dead_relu as c11  # noqa: E402


def _st(mean: float, sd: float = 0.01, n: int = 3) -> dict[str, float]:
    return {"mean": mean, "std": sd, "se": sd / math.sqrt(n), "n": n}


def _c11_numbers(sgd: tuple[float, ...] = (0.0, 0.1, 0.3), ada: tuple[float, ...] = (0.0, 0.2, 0.3),
                 variants: float = 0.0, revived: tuple[int, int] = (1, 50), bad_init: float = 0.17
                 ) -> dict[str, Any]:
    runs: dict[str, Any] = {}

    def run(mean: float, rev: bool = True) -> dict[str, Any]:
        layers = [{"revived": 0, "dead_after_epoch_1": 2},
                  {"revived": revived[0], "dead_after_epoch_1": revived[1]}]
        return {"dead": _st(mean), "revived_by_layer": layers if rev else []}

    for lr, m in zip(c11.SGD_LRS, sgd):
        runs[f"sgd relu lr={lr:g}"] = run(m)
    for lr, m in zip(c11.ADAGRAD_LRS, ada):
        runs[f"adagrad relu lr={lr:g}"] = run(m)
    for a in c11.VARIANTS:
        runs[f"adagrad {a} lr={c11.VARIANT_LR:g}"] = run(variants, rev=False)
    return {"runs": runs, "sgd_lrs": list(c11.SGD_LRS), "adagrad_lrs": list(c11.ADAGRAD_LRS),
            "variants": list(c11.VARIANTS), "variant_lr": c11.VARIANT_LR, "bad_bias": c11.BAD_BIAS,
            "min_effect": c11.MIN_EFFECT, "max_revived": c11.MAX_REVIVED,
            "dead_at_init": {"bad": _st(bad_init), "good": _st(0.0)}}


def test_c11_decide_branches() -> None:
    # Adagrad fewer dead units than SGD at equal rates, nothing revives: confirmed
    assert c11.decide(_c11_numbers(sgd=(0.2, 0.3, 0.4), ada=(0.0, 0.05, 0.1)), True).verdict == CONFIRMED
    # Adagrad worse at equal rates, better at its usual rate than SGD at the largest: depends
    v = c11.decide(_c11_numbers(), False)
    assert v.verdict == DEPENDS and "Adagrad" in v.reason
    # deeper units revive: depends, saying so
    v = c11.decide(_c11_numbers(sgd=(0.2, 0.3, 0.4), ada=(0.0, 0.05, 0.1), revived=(20, 50)), False)
    assert v.verdict == DEPENDS and "revive" in v.reason
    # a variant dies more than relu: refuted
    assert c11.decide(_c11_numbers(variants=0.6), True).verdict == REFUTED
    # no learning-rate effect, an established tie: inconclusive in quick mode, refuted in full mode
    flat = _c11_numbers(sgd=(0.0, 0.0, 0.01), ada=(0.0, 0.0, 0.01), variants=0.0)
    assert c11.decide(flat, True).verdict == INCONCLUSIVE
    assert c11.decide(flat, False).verdict == REFUTED
    # every seed of a run diverged (no values left): undetermined, never "no effect"
    gone = _c11_numbers()
    gone["runs"][f"sgd relu lr={c11.SGD_LRS[-1]:g}"]["dead"] = {"mean": math.nan, "std": math.nan,
                                                               "se": math.nan, "n": 0}
    gone["runs"][f"adagrad relu lr={c11.ADAGRAD_LRS[-1]:g}"]["dead"] = {"mean": math.nan, "std": math.nan,
                                                                       "se": math.nan, "n": 0}
    assert c11.decide(gone, False).verdict == INCONCLUSIVE


def test_c11_significance() -> None:
    # an effect needs >= min_effect and > t SE (t(2) = 4.30 for 3 seeds): 0.1 apart with SE 0.02 each
    # (0.028 combined: 3.5 SE) is undetermined, not an effect; with 10 seeds it is one
    assert c11._sig(_st(0.3, 0.0346, 3), _st(0.2, 0.0346, 3), 0.05) is None
    assert c11._sig(_st(0.3, 0.0632, 10), _st(0.2, 0.0632, 10), 0.05) == 1
    assert c11._sig(_st(0.2, 0.001, 3), _st(0.2, 0.001, 3), 0.05) == 0
    assert c11._sig({"mean": math.nan, "std": math.nan, "se": math.nan, "n": 0}, _st(0.2), 0.05) is None


def test_c11_unit_masks_exact() -> None:
    """A ReLU unit with bias -100 is dead for standardised inputs; leaky_relu units never are."""
    import actlab

    x = torch.randn(200, 4, generator=torch.Generator().manual_seed(0))
    lin = torch.nn.Linear(4, 3)
    with torch.no_grad():
        lin.weight.fill_(0.1)
        lin.bias.copy_(torch.tensor([-100.0, 0.0, 100.0]))
    (dead, off), = c11.unit_masks(torch.nn.Sequential(lin, actlab.get("relu")), x)
    assert dead.tolist() == [True, False, False] and off.tolist() == [True, False, False]
    (dead, off), = c11.unit_masks(torch.nn.Sequential(lin, actlab.get("leaky_relu")), x)
    assert dead.tolist() == [False, False, False] and off.tolist() == [True, False, False]


def test_train_keep_model_matches_run_trial() -> None:
    """The claims' training loop (C11, C15) reproduces the sweep engine's run_trial (same test accuracy)."""
    from actlab.report.claims._training import train_keep_model
    from actlab.sweep import TrialConfig, run_trial
    from actlab.sweep.trial import evaluate

    c = TrialConfig(dataset="digits", width=16, depth=2, epochs=2, lr=0.3, seed=3)
    model, ds, ok = train_keep_model(c)
    assert ok
    assert evaluate(model, ds.x_test, ds.y_test)[1] == pytest.approx(run_trial(c).final["test_acc"], abs=1e-6)


def test_c11_measure_tiny(tmp_path: Path) -> None:
    ev = c11.measure(_tiny(tmp_path))
    _check_evidence(ev, c11.decide)
    assert set(ev.numbers["runs"]) >= {f"sgd relu lr={lr:g}" for lr in c11.SGD_LRS}


# -- C12 He vs Xavier -----------------------------------------------------------------------------
from actlab.report.claims import c12_he_vs_xavier as c12  # noqa: E402


def _c12_numbers(shallow: tuple[list[float], list[float]], deep: tuple[list[float], list[float]]
                 ) -> dict[str, Any]:
    pd = {}
    for d, (he, xa) in ((3, shallow), (12, deep)):
        pd[str(d)] = {"kaiming_normal": {"mean": float(np.mean(he))},
                      "xavier_normal": {"mean": float(np.mean(xa))},
                      "he_minus_xavier": c12.compare(he, xa, c12.MARGIN)}
    return {"depths": [3, 12], "per_depth": pd, "bad_gap": c12.BAD_GAP}


def test_c12_compare() -> None:
    # Student's t: 3 paired seeds need |diff| > 4.30 SE; 2 SE (the normal rule) is not enough
    d = c12.compare([0.95, 0.90, 0.93], [0.90, 0.88, 0.86], 0.03)
    assert 2 * d["se"] < d["diff"] < 4.3 * d["se"] and d["outcome"] is None
    assert c12.compare([0.9, 0.91, 0.92], [0.5, 0.52, 0.49], 0.03)["outcome"] == 1
    assert c12.compare([0.90, 0.91, 0.92], [0.90, 0.905, 0.925], 0.03)["outcome"] == 0
    assert c12.compare([0.9, 0.7, 0.95], [0.8, 0.9, 0.7], 0.03)["outcome"] is None
    assert c12.compare([0.5, 0.52, 0.49], [0.9, 0.91, 0.92], 0.03)["outcome"] == -1


def test_c12_decide_branches() -> None:
    tie = ([0.95, 0.96, 0.95], [0.95, 0.955, 0.95])
    he_much = ([0.85, 0.86, 0.84], [0.30, 0.40, 0.35])
    he_bit = ([0.90, 0.91, 0.92], [0.85, 0.86, 0.87])
    v = c12.decide(_c12_numbers(tie, he_much), True)
    assert v.verdict == DEPENDS and "depth 3: tie" in v.reason
    assert c12.decide(_c12_numbers(he_bit, he_much), True).verdict == CONFIRMED
    assert c12.decide(_c12_numbers(tie, tie), True).verdict == REFUTED
    assert c12.decide(_c12_numbers(tie, he_bit), True).verdict == DEPENDS  # better, but not "badly"
    noisy = ([0.9, 0.5, 0.8], [0.6, 0.8, 0.4])
    assert c12.decide(_c12_numbers(tie, noisy), True).verdict == INCONCLUSIVE
    # undetermined at the deepest comparison: no evidence either way, in full mode as well
    assert c12.decide(_c12_numbers(tie, noisy), False).verdict == INCONCLUSIVE


def test_c12_measure_tiny(tmp_path: Path) -> None:
    ev = c12.measure(_tiny(tmp_path))
    _check_evidence(ev, c12.decide)
    # Xavier's ReLU signal shrinks with depth at initialisation, He's does not (exact in expectation)
    stds = ev.numbers["init_std_by_layer"]
    assert stds["xavier_normal"][-1] < stds["kaiming_normal"][-1]


# -- C13 bias 0.1, C14 standardised inputs, C16 Leaky ReLU / ELU vs ReLU ----------------------------
from actlab.report.claims import c13_relu_bias_init as c13  # noqa: E402
from actlab.report.claims import c14_standardize_inputs as c14  # noqa: E402
from actlab.report.claims import c16_leaky_elu_vs_relu as c16  # noqa: E402

_BETTER = ([0.95, 0.96, 0.955], [0.90, 0.91, 0.905])
_TIE = ([0.950, 0.951, 0.949], [0.950, 0.950, 0.950])
_NOISY = ([0.99, 0.80, 0.97], [0.85, 0.95, 0.80])
_WORSE = (_BETTER[1], _BETTER[0])


def _c13_numbers(*pairs: tuple[list[float], list[float]]) -> dict[str, Any]:
    per = {f"s{i}": {"bias_0.1": {"mean": float(np.mean(a))}, "bias_0": {"mean": float(np.mean(b))},
                     "diff": c13.compare(a, b, c13.MARGIN)} for i, (a, b) in enumerate(pairs)}
    return {"settings": list(per), "per_setting": per}


def test_c13_decide_branches() -> None:
    assert c13.decide(_c13_numbers(_BETTER, _BETTER), True).verdict == CONFIRMED
    assert c13.decide(_c13_numbers(_BETTER, _TIE), True).verdict == DEPENDS
    assert c13.decide(_c13_numbers(_TIE, _TIE), True).verdict == REFUTED
    assert c13.decide(_c13_numbers(_WORSE, _TIE), False).verdict == REFUTED
    assert c13.decide(_c13_numbers(_TIE, _NOISY), True).verdict == INCONCLUSIVE
    assert c13.decide(_c13_numbers(_TIE, _NOISY), False).verdict == INCONCLUSIVE  # no evidence either way


def test_c13_measure_tiny(tmp_path: Path) -> None:
    ev = c13.measure(_tiny(tmp_path))
    _check_evidence(ev, c13.decide)
    act = ev.numbers["per_setting"][ev.numbers["settings"][0]]["active_at_init"]
    assert act["0.1"] > act["0.0"]  # a positive bias switches more units on at initialisation


def _c14_numbers(*pairs: tuple[list[float], list[float]]) -> dict[str, Any]:
    per = {f"s{i}": {"standardised": {"mean": float(np.mean(a))}, "raw": {"mean": float(np.mean(b))},
                     "diff": c14.compare(a, b, c14.MARGIN)} for i, (a, b) in enumerate(pairs)}
    return {"settings": list(per), "per_setting": per}


def test_c14_decide_branches() -> None:
    assert c14.decide(_c14_numbers(_BETTER, _BETTER), True).verdict == CONFIRMED
    v = c14.decide(_c14_numbers(_BETTER, _TIE), True)
    assert v.verdict == DEPENDS and "s0" in v.reason and "s1" in v.reason
    assert c14.decide(_c14_numbers(_TIE, _TIE), True).verdict == REFUTED
    assert c14.decide(_c14_numbers(_NOISY, _TIE), True).verdict == INCONCLUSIVE
    assert c14.decide(_c14_numbers(_BETTER, _NOISY), False).verdict == DEPENDS
    # helping nowhere with a setting undetermined: no evidence either way, in full mode too
    assert c14.decide(_c14_numbers(_NOISY, _TIE), False).verdict == INCONCLUSIVE
    # a best learning rate at the edge of the grid is named
    n = _c14_numbers(_BETTER, _TIE)
    n["per_setting"]["s1"]["raw"]["at_edge"] = True
    assert "grid's edge: s1 raw" in c14.decide(n, False).reason


def test_c14_measure_tiny(tmp_path: Path) -> None:
    ev = c14.measure(_tiny(tmp_path))
    _check_evidence(ev, c14.decide)
    sc = ev.numbers["feature_scales"]
    assert sc["breast_cancer"]["max_std"] / sc["breast_cancer"]["min_std"] > 1e4  # why it matters there


def _c16_numbers(leaky: list[tuple[list[float], list[float]]], elu: list[tuple[list[float], list[float]]]
                 ) -> dict[str, Any]:
    per: dict[str, Any] = {}
    for i, (lk, el) in enumerate(zip(leaky, elu)):
        per[f"s{i}"] = {"leaky_relu_minus_relu": c16.compare(*lk, c16.MARGIN),
                        "elu_minus_relu": c16.compare(*el, c16.MARGIN)}
    return {"settings": list(per), "variants": ["leaky_relu", "elu"], "per_setting": per}


def test_c16_decide_branches() -> None:
    assert c16.decide(_c16_numbers([_TIE, _TIE], [_TIE, _WORSE]), True).verdict == CONFIRMED
    v = c16.decide(_c16_numbers([_TIE, _TIE], [_BETTER, _TIE]), True)
    assert v.verdict == DEPENDS and "elu" in v.reason
    v = c16.decide(_c16_numbers([_TIE, _TIE], [_BETTER, _BETTER]), True)
    assert v.verdict == REFUTED and "elu" in v.reason
    assert c16.decide(_c16_numbers([_TIE, _NOISY], [_TIE, _TIE]), True).verdict == INCONCLUSIVE
    v = c16.decide(_c16_numbers([_TIE, _NOISY], [_TIE, _TIE]), False)
    assert v.verdict == CONFIRMED and "within noise: s1" in v.reason  # not called a tie


def test_c16_measure_tiny(tmp_path: Path) -> None:
    ev = c16.measure(_tiny(tmp_path))
    _check_evidence(ev, c16.decide)


# -- C15 weight regularisation and L1 sparsity ------------------------------------------------------
from actlab.report.claims import c15_weight_regularisation as c15  # noqa: E402


def _c15_numbers(max_act: int | None = -1, acc: int | None = 1, small_w: int | None = 1,
                 zeros: int | None = 1) -> dict[str, Any]:
    def c(o: int | None) -> dict[str, Any]:
        return {"diff": 0.0 if o is None else float(o), "se": 0.01, "outcome": o, "n": 3}

    cmp = {n: {"max_activation": c(max_act), "test_acc": c(acc), "small_weights": c(small_w),
               "zero_activations": c(zeros)} for n in ("L2 0.01", "L1 0.001")}
    row = {"max_activation": 10.0, "test_acc": 0.96, "small_weights": 0.01, "zero_activations": 0.4}
    return {"compare": cmp, "summary": {n: dict(row) for n in c15.PENALTIES}, "small_w": c15.SMALL_W}


def test_c15_decide_branches() -> None:
    assert c15.decide(_c15_numbers(), True).verdict == CONFIRMED
    v = c15.decide(_c15_numbers(zeros=-1, acc=None), True)
    assert v.verdict == DEPENDS and "L1 sparsifies activations" in v.reason and "generalisation" in v.reason
    assert c15.decide(_c15_numbers(max_act=0, acc=0, small_w=0, zeros=-1), True).verdict == REFUTED
    unsure = _c15_numbers(max_act=None, acc=None, small_w=1, zeros=None)
    assert c15.decide(unsure, True).verdict == INCONCLUSIVE
    assert c15.decide(unsure, False).verdict == DEPENDS
    # nothing holds, some parts undetermined: inconclusive in full mode too, not refuted
    nothing = _c15_numbers(max_act=None, acc=None, small_w=0, zeros=None)
    assert c15.decide(nothing, False).verdict == INCONCLUSIVE


def test_c15_measure_tiny(tmp_path: Path) -> None:
    ev = c15.measure(_tiny(tmp_path))
    _check_evidence(ev, c15.decide)
    assert set(ev.numbers["compare"]) == {"L2 0.01", "L1 0.001"}
