"""Report claims C01..C10: each rule (decide) on hand-made numbers, each experiment (measure) at tiny
scale, and independent exact checks where the claim is exact."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from actlab.report.claim import CONFIRMED, DEPENDS, INCONCLUSIVE, REFUTED, Context, Evidence
from actlab.report.claims import c01_linear_collapse as c01
from actlab.report.claims import c02_xor as c02
from actlab.report.claims import c03_sigmoid_quarter as c03
from actlab.report.claims import c04_vanishing as c04
from actlab.report.claims import c05_zero_centred as c05
from actlab.report.claims import c06_cost as c06
from actlab.report.claims import c07_deep_relu as c07
from actlab.report.claims import c08_relu_exploding as c08
from actlab.report.claims import c09_large_init_overflow as c09
from actlab.report.claims import c10_sparsity as c10
from actlab.report.claims._layer_grads import init_gradients, layer_grads
from actlab.report.claims._stats import sample_std
from actlab.sweep import TrialConfig


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def tiny_ctx(tmp_path: Path) -> Context:
    return Context(tiny=True, quick=True, out=tmp_path, store=tmp_path / "s.sqlite", workers=1)


def check_evidence(ev: Evidence, keys: list[str]) -> dict[str, Any]:
    """Evidence has >= 1 PNG figure with a caption and JSON-able numbers holding ``keys``; returns the
    numbers after the JSON round trip the runner makes."""
    assert ev.figures and all(f.png[:8] == b"\x89PNG\r\n\x1a\n" for f in ev.figures)
    assert all(f.caption for f in ev.figures)
    numbers = json.loads(json.dumps(ev.numbers, allow_nan=True))
    json.dumps(ev.setup)
    for k in keys:
        assert k in numbers, k
    return numbers


# -- shared gradient helper ---------------------------------------------------------------------------
def test_layer_grads_matches_autograd() -> None:
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    x, y = torch.randn(5, 3, dtype=torch.float64), torch.tensor([0, 1, 1, 0, 1])
    r = layer_grads(m, x, y)
    # independent: gradient of example 0's own loss w.r.t. the first hidden output
    h1 = m[1](m[0](x[:1])).detach().requires_grad_(True)
    loss0 = nn.functional.cross_entropy(m[4](m[3](m[2](h1))), y[:1], reduction="sum")
    (g,) = torch.autograd.grad(loss0, h1)
    per_ex0 = float(g.norm())
    assert len(r["out_grad"]) == 2 and len(r["weight_grad"]) == 3 and len(r["ratios"]) == 1
    h2 = m[3](m[2](h1))
    (g2,) = torch.autograd.grad(nn.functional.cross_entropy(m[4](h2), y[:1], reduction="sum"), h2)
    assert r["ratios"][0][0] == pytest.approx(per_ex0 / float(g2.norm()), rel=1e-12)
    assert all(p.grad is None for p in m.parameters())


def test_sample_std() -> None:
    assert sample_std([1.0, 3.0]) == pytest.approx(math.sqrt(2.0)) and sample_std([5.0]) == 0.0


# -- C01 linear collapse ------------------------------------------------------------------------------
def test_c01_compose_matches_substitution() -> None:
    # tutorial 003's two-layer example: y = w1^2 (w1^1 x1 + w2^1 x2) + w2^2 (w3^1 x1 + w4^1 x2)
    a, b = nn.Linear(2, 2), nn.Linear(2, 1)
    with torch.no_grad():
        a.weight.copy_(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
        a.bias.zero_()
        b.weight.copy_(torch.tensor([[5.0, 6.0]]))
        b.bias.zero_()
    w, bias = c01.compose(nn.Sequential(a, nn.Identity(), b))
    # (w1^1 w1^2 + w3^1 w2^2) x1 + (w2^1 w1^2 + w4^1 w2^2) x2
    assert w.tolist() == [[1 * 5 + 3 * 6, 2 * 5 + 4 * 6]] and bias.tolist() == [0.0]


def test_c01_affine_residual_detects_nonlinearity() -> None:
    x = torch.randn(200, 3, dtype=torch.float64)
    assert c01.affine_residual(x, x @ torch.randn(3, 2, dtype=torch.float64) + 1.0) < 1e-12
    assert c01.affine_residual(x, torch.relu(x)) > 0.1


def _c01(err: float = 1e-15, ctrl: float = 0.3) -> dict[str, Any]:
    return {"max_rel_error": err, "min_control_residual": ctrl, "exact_tol": c01.EXACT_TOL,
            "control_min": c01.CONTROL_MIN, "depths": [1, 50]}


def test_c01_decide() -> None:
    assert c01.decide(_c01(), True).verdict == CONFIRMED
    v = c01.decide(_c01(err=1e-3), True)
    assert v.verdict == REFUTED and "0.001" in v.reason
    assert c01.decide(_c01(ctrl=1e-5), True).verdict == INCONCLUSIVE


def test_c01_measure_tiny(tmp_path: Path) -> None:
    n = check_evidence(c01.measure(tiny_ctx(tmp_path)), ["max_rel_error", "min_control_residual", "exact_tol",
                                                          "control_min", "depths"])
    assert n["max_rel_error"] < 1e-12 and n["min_control_residual"] > 0.05


# -- C02 XOR --------------------------------------------------------------------------------------------
def test_c02_lp_and_construction() -> None:
    x4, y4 = c02.XOR4
    assert c02.max_margin(x4, y4) == pytest.approx(0.0, abs=1e-12)
    assert c02.max_margin(x4, np.array([0, 0, 0, 1])) > 0.1  # AND is separable
    assert c02.relu_xor(x4).tolist() == [0.0, 1.0, 1.0, 0.0]


def _c02(lin: float = 0.5, relu: float = 0.97, sig: float = 0.97, margin: float = 0.0,
         exact: bool = True) -> dict[str, Any]:
    def acc(v: float) -> dict[str, Any]:
        return {"mean": v, "std": 0.01, "best": v, "n_solved": int(v >= 0.95), "runs": [v]}

    return {"margin_4_points": margin, "margin_train_set": margin, "relu_construction_exact": exact,
            "solved": c02.SOLVED, "fails": c02.FAILS,
            "test_acc": {"linear (no hidden layer)": acc(lin), "hidden layer, identity": acc(lin),
                         "hidden layer, relu": acc(relu), "hidden layer, tanh": acc(0.97),
                         "hidden layer, sigmoid": acc(sig)}}


def test_c02_decide() -> None:
    assert c02.decide(_c02(), True).verdict == CONFIRMED
    assert c02.decide(_c02(margin=0.2), True).verdict == REFUTED
    assert c02.decide(_c02(lin=0.9), True).verdict == REFUTED
    v = c02.decide(_c02(sig=0.7), True)
    assert v.verdict == DEPENDS and "sigmoid" in v.reason
    assert c02.decide(_c02(relu=0.6, sig=0.6) | {"test_acc": {
        k: {"mean": 0.6, "std": 0, "best": 0.6, "n_solved": 0, "runs": [0.6]}
        for k in _c02()["test_acc"]}}, True).verdict == REFUTED


def test_c02_measure_tiny(tmp_path: Path) -> None:
    n = check_evidence(c02.measure(tiny_ctx(tmp_path)), ["margin_4_points", "margin_train_set",
                                                          "relu_construction_exact", "test_acc"])
    assert n["margin_4_points"] <= 1e-9 and n["relu_construction_exact"]
    assert set(n["test_acc"]) == set(_c02()["test_acc"])


# -- C03 sigmoid' <= 1/4 ----------------------------------------------------------------------------------
def test_c03_edges_closed_form() -> None:
    # sigmoid'(x) = f/4  <=>  s(1 - s) = f/4, s = (1 + sqrt(1 - f)) / 2, x = ln(s / (1 - s))
    for f in (0.1, 0.01):
        s = (1 + math.sqrt(1 - f)) / 2
        x = math.log(s / (1 - s))
        assert c03.d_sigmoid(x) == pytest.approx(f / 4, rel=1e-12)
    assert c03.d_sigmoid(0.0) == 0.25


def _c03(**over: Any) -> dict[str, Any]:
    shrink = {"small (||W||2 = 1)": {"mean": 8.0, "min": 7.9}, "default (PyTorch)": {"mean": 7.0, "min": 6.9},
              "large": {"mean": 5.0, "min": 4.5}}
    base = {"max_derivative": 0.25, "argmax": 0.0, "exceeds_quarter": False, "bound_worst_ratio": 0.7,
            "fraction_of_peak_at": {"4.0": 0.0707, "5.0": 0.0266}, "near_zero": c03.NEAR_ZERO,
            "per_layer_shrink": shrink}
    base.update(over)
    return base


def test_c03_decide() -> None:
    assert c03.decide(_c03(), True).verdict == CONFIRMED
    weak = _c03()
    weak["per_layer_shrink"] = dict(weak["per_layer_shrink"], large={"mean": 1.6, "min": 1.5})
    v = c03.decide(weak, True)
    assert v.verdict == DEPENDS and "1.60x" in v.reason
    assert c03.decide(_c03(max_derivative=0.3), True).verdict == REFUTED
    assert c03.decide(_c03(bound_worst_ratio=1.2), True).verdict == REFUTED
    v = c03.decide(_c03(fraction_of_peak_at={"4.0": 0.2, "5.0": 0.02}), True)
    assert v.verdict == REFUTED and "4.0" in v.reason


def test_c03_measure_tiny(tmp_path: Path) -> None:
    n = check_evidence(c03.measure(tiny_ctx(tmp_path)), ["max_derivative", "per_layer_shrink",
                                                          "bound_worst_ratio", "fraction_of_peak_at"])
    assert n["max_derivative"] == 0.25 and n["argmax"] == 0.0
    assert n["bound_worst_ratio"] <= 1.0
    assert n["per_layer_shrink"]["small (||W||2 = 1)"]["min"] >= 4.0  # the exact bound at ||W||2 = 1


def test_init_gradients_relu_mean_field() -> None:
    # He init keeps the back-propagated gradient level; PyTorch's default (sigma_w2 = 1/3) shrinks it by
    # about sqrt(1/6) per relu layer (mean-field chi_1 = sigma_w2 / 2)
    cfg = [TrialConfig(act="relu", depth=6, width=64, init=i, seed=0) for i in ("kaiming_normal", "default")]
    he, default = init_gradients(cfg[:1], n=256), init_gradients(cfg[1:], n=256)
    assert 0.3 < he["backprop_ratio"] < 3.0
    assert default["backprop_ratio"] == pytest.approx((1 / 6) ** 2.5, rel=0.6)


# -- C04 vanishing gradients ---------------------------------------------------------------------------
def _case(ratio: float, acc: float, runs: list[float] | None = None) -> dict[str, Any]:
    return {"grad_ratio": ratio, "weight_ratio": ratio, "backprop_ratio": ratio, "test_acc": acc,
            "test_acc_runs": runs or [acc, acc]}


def _c04(**cases: dict[str, Any]) -> dict[str, Any]:
    base = {"sigmoid/default": _case(1e-7, 0.1), "tanh/default": _case(5e-3, 0.1),
            "relu/kaiming_normal": _case(0.8, 0.9)}
    base.update(cases)
    return {"cases": base, "vanish": c04.VANISH, "fails": c04.FAILS, "trains": c04.TRAINS,
            "baseline": "relu/kaiming_normal"}


def test_c04_decide() -> None:
    assert c04.decide(_c04(), True).verdict == CONFIRMED
    v = c04.decide(_c04(**{"tanh/xavier_normal": _case(0.4, 0.95)}), False)
    assert v.verdict == DEPENDS and "tanh/xavier_normal" in v.reason
    assert c04.decide(_c04(**{"sigmoid/default": _case(0.5, 0.9), "tanh/default": _case(0.5, 0.9)}),
                      True).verdict == REFUTED
    assert c04.decide(_c04(**{"relu/kaiming_normal": _case(0.8, 0.3)}), True).verdict == INCONCLUSIVE
    mixed = _c04(**{"tanh/default": _case(5e-3, 0.45, [0.1, 0.8])})
    assert c04.decide(mixed, True).verdict == INCONCLUSIVE
    assert c04.decide(mixed, False).verdict == CONFIRMED


def test_c04_measure_tiny(tmp_path: Path) -> None:
    n = check_evidence(c04.measure(tiny_ctx(tmp_path)), ["cases", "vanish", "fails", "trains", "baseline"])
    assert set(n["cases"]) == {c04.case_name(a, i) for a, i in c04.CASES}
    assert n["cases"]["sigmoid/default"]["grad_ratio"] < n["cases"]["relu/kaiming_normal"]["grad_ratio"]
    c04.decide(n, True)


# -- C07 deep relu -------------------------------------------------------------------------------------
def _c07(**cases: dict[str, Any]) -> dict[str, Any]:
    base = {"kaiming_normal": _case(0.8, 0.9), "xavier_normal": _case(0.04, 0.85)}
    base.update(cases)
    return {"cases": base, "vanish": c07.VANISH, "trains": c07.TRAINS, "derivative_pos_all_one": True,
            "derivative_neg_all_zero": True}


def test_c07_decide() -> None:
    assert c07.decide(_c07(), True).verdict == CONFIRMED
    v = c07.decide(_c07(default=_case(3e-4, 0.1)), True)
    assert v.verdict == DEPENDS and "default" in v.reason and "3.0e-04" in v.reason
    assert c07.decide(_c07(kaiming_normal=_case(3e-4, 0.1), xavier_normal=_case(0.5, 0.2)),
                      True).verdict == REFUTED
    assert c07.decide(_c07() | {"derivative_pos_all_one": False}, True).verdict == REFUTED
    assert c07.decide(_c07(default=_case(0.5, 0.6, [0.3, 0.9])), True).verdict == INCONCLUSIVE


def test_c07_measure_tiny(tmp_path: Path) -> None:
    n = check_evidence(c07.measure(tiny_ctx(tmp_path)),
                       ["cases", "vanish", "trains", "derivative_pos_all_one"])
    assert n["derivative_pos_all_one"] and n["derivative_neg_all_zero"] and n["derivative_at_0"] == 0.0
    assert set(n["cases"]) == set(c07.INITS)
    c07.decide(n, True)


# -- C08 / C09 init scale, exploding gradients, overflow --------------------------------------------------
def _xcase(act: str, sw2: float, growth: float, overflow: float, lr: float = 0.02, crit: float = 2.0,
           ratio: float | None = None) -> dict[str, Any]:
    return {"act": act, "sigma_w2": sw2, "lr": lr, "critical_sigma_w2": crit, "large_init": sw2 > crit,
            "growth_vs_critical": growth, "backprop_ratio": ratio if ratio is not None else growth,
            "exploding": growth >= 10 or (ratio or 0) >= 10, "overflow_fraction": overflow}


def _xnumbers(*cs: dict[str, Any]) -> dict[str, Any]:
    return {"cases": {f"{c['act']} {c['sigma_w2']} {c['lr']}": c for c in cs}, "explode": 10.0}


def test_c08_decide() -> None:
    calm = [_xcase("relu", 2.0, 1.0, 0.0), _xcase("relu", 3.0, 5.0, 0.0),
            _xcase("tanh", 16.0, 36.0, 0.0, crit=1)]  # tanh is not judged by C08
    assert c08.decide(_xnumbers(*calm), True).verdict == CONFIRMED
    v = c08.decide(_xnumbers(*calm, _xcase("relu", 16.0, 5.7e4, 1.0)), True)
    assert v.verdict == REFUTED and "5.7e+04" in v.reason and "100%" in v.reason


def test_c09_decide() -> None:
    base = [_xcase("relu", 2.0, 1.0, 0.0), _xcase("relu", 16.0, 5e4, 1.0),
            _xcase("tanh", 1.0, 1.0, 0.0, crit=1)]
    assert c09.decide(_xnumbers(*base), True).verdict == CONFIRMED
    # a bounded activation whose gradient explodes without overflowing
    v = c09.decide(_xnumbers(*base, _xcase("tanh", 64.0, 300.0, 0.0, crit=1)), True)
    assert v.verdict == DEPENDS and "without (always) overflowing" in v.reason
    # overflow with a normal init and a large learning rate
    v = c09.decide(_xnumbers(*base, _xcase("relu", 2.0, 1.0, 0.5, lr=0.5)), True)
    assert v.verdict == DEPENDS and "without a large init" in v.reason
    assert c09.decide(_xnumbers(_xcase("relu", 2.0, 1.0, 0.0), _xcase("relu", 3.0, 5.0, 0.0)),
                      True).verdict == REFUTED
    assert c09.decide(_xnumbers(_xcase("relu", 16.0, 5e4, 0.0)), True).verdict == REFUTED


def test_c08_c09_measure_tiny(tmp_path: Path) -> None:
    ctx = tiny_ctx(tmp_path)
    n9 = check_evidence(c09.measure(ctx), ["cases", "explode"])
    n8 = check_evidence(c08.measure(ctx), ["cases", "explode"])  # same trials, from the store
    assert set(n8["cases"]) < set(n9["cases"])
    relu16 = n9["cases"]["relu sigma_w2=16"]
    # mean-field: the back-propagated gradient grows by sqrt(sigma_w2 / 2) per relu layer (2 layers here)
    assert relu16["backprop_ratio"] == pytest.approx(8.0 ** 1.0, rel=0.6)
    assert relu16["growth_vs_critical"] > 10 and n9["cases"]["relu sigma_w2=2"]["growth_vs_critical"] == 1.0
    c08.decide(n8, True)
    c09.decide(n9, True)


# -- C05 zero-centred ---------------------------------------------------------------------------------------
def test_c05_sign_coherence_exact() -> None:
    from actlab.sweep.trial import load_data

    ds = load_data("digits", True, 0, 0.25)
    x, y = ds.x_train[:128], ds.y_train[:128]
    assert c05.sign_coherence("sigmoid", x, y)["per_example"] == 1.0  # delta * h with h > 0
    assert c05.sign_coherence("tanh", x, y)["per_example"] < 0.01
    assert c05.sign_coherence("relu", x, y)["per_example"] < 1.0  # relu outputs 0 too: not all one sign


def test_c05_trains_in_process_whatever_the_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # its centred sigmoid is registered in this process only: a Ray worker would not know it
    from actlab.sweep import backends

    def no_ray(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("C05 trained on Ray")

    monkeypatch.setattr(backends, "_run_ray", no_ray)
    ctx = Context(tiny=True, quick=True, out=tmp_path, store=tmp_path / "s.sqlite", backend="ray")
    numbers = check_evidence(c05.measure(ctx), ["train"])
    assert all(s == "ok" for a in c05.ACTS for s in numbers["train"][a]["statuses"])


def _c05(sig: float = 1.8, cen: float = 1.3, std: float = 0.05, tanh: tuple[float, float] = (5e-3, 4e-3),
         per_example: float = 1.0, tanh_mean: float = 0.0) -> dict[str, Any]:
    t = {"final_loss_std": std, "loss_increase": 0.0}
    return {"coherence": {"sigmoid": {"per_example": per_example, "per_batch": 0.4},
                          "tanh": {"mean_hidden_output": tanh_mean}},
            "train": {"sigmoid": {"final_loss": sig, **t}, c05.CENTRED: {"final_loss": cen, **t}},
            "tanh_deep_backprop_ratio": {"default": tanh[0], "xavier_normal": tanh[1]}, "vanish": c05.VANISH,
            "depth_tanh": 10}


def test_c05_decide() -> None:
    assert c05.decide(_c05(), True).verdict == CONFIRMED
    v = c05.decide(_c05(tanh_mean=0.3), False)  # the "tanh is zero-centred" part can fail
    assert v.verdict == REFUTED and "not zero-centred" in v.reason
    v = c05.decide(_c05(tanh=(5e-3, 0.4)), True)
    assert v.verdict == DEPENDS and "xavier_normal 4.0e-01" in v.reason
    assert c05.decide(_c05(sig=1.3, cen=1.35), True).verdict == REFUTED
    assert c05.decide(_c05(sig=1.4, cen=1.35), True).verdict == INCONCLUSIVE
    assert c05.decide(_c05(sig=1.4, cen=1.35), False).verdict == INCONCLUSIVE  # slower on average only
    assert c05.decide(_c05(per_example=0.9), True).verdict == REFUTED


def test_c05_measure_tiny(tmp_path: Path) -> None:
    import actlab

    n = check_evidence(c05.measure(tiny_ctx(tmp_path)), ["coherence", "train", "tanh_deep_backprop_ratio"])
    assert c05.CENTRED not in actlab.names()  # the temporary activation is removed again
    assert n["coherence"]["sigmoid"]["per_example"] == 1.0
    assert abs(n["coherence"][c05.CENTRED]["mean_hidden_output"]) < 0.1
    c05.decide(n, True)


# -- C10 sparsity -------------------------------------------------------------------------------------------
def test_c10_sigmoid_zero_threshold_float32() -> None:
    t = c10.sigmoid_zero_threshold()
    assert torch.sigmoid(torch.tensor(t, dtype=torch.float32)).item() == 0.0
    nxt = float(np.nextafter(np.float32(t), np.float32(0)))
    assert torch.sigmoid(torch.tensor(nxt, dtype=torch.float32)).item() > 0.0
    assert -110 < t < -80  # exp(-x) overflows float32 past ln(3.4e38) = 88.72


def test_c10_hidden_outputs() -> None:
    from actlab import nets

    m = nets.mlp(5, 3, 3, 8, "relu", seed=0)
    outs = c10.hidden_outputs(m, torch.randn(4, 5))
    assert len(outs) == 3 and all(o.shape == (4, 8) and (o >= 0).all() for o in outs)


def _c10(fracs: dict[str, float], zeros: int = 0) -> dict[str, Any]:
    return {"relu": {n: {"zero_fraction": f, "zero_centred": "bias" not in n} for n, f in fracs.items()},
            "smooth": {"sigmoid": {"exact_zeros": zeros}, "tanh": {"exact_zeros": 0}}, "half": list(c10.HALF)}


def test_c10_decide() -> None:
    ok = _c10({"default": 0.47, "kaiming_normal": 0.5, "bias 0.1": 0.2})  # the biased one is not judged
    assert c10.decide(ok, True).verdict == CONFIRMED
    v = c10.decide(_c10({"default": 0.3, "kaiming_normal": 0.5}), True)
    assert v.verdict == DEPENDS and "default" in v.reason
    assert c10.decide(_c10({"default": 0.47}, zeros=3), True).verdict == REFUTED
    assert c10.decide(_c10({"default": 0.9}), True).verdict == REFUTED


def test_c10_measure_tiny(tmp_path: Path) -> None:
    n = check_evidence(c10.measure(tiny_ctx(tmp_path)), ["relu", "smooth", "half"])
    assert n["smooth"]["sigmoid"]["exact_zeros"] == 0 and n["smooth"]["tanh"]["exact_zeros"] == 0
    assert 0.3 < n["relu"]["kaiming_normal"]["zero_fraction"] < 0.7
    c10.decide(n, True)


# -- C06 cost -----------------------------------------------------------------------------------------------
def _c06(op: float, step: float, spread: float = 0.02) -> dict[str, Any]:
    def r(v: float) -> dict[str, float]:
        return {"median": v, "q25": v - spread, "q75": v + spread}

    names = ("torch forward", "torch forward+backward", "numpy forward")
    d: dict[str, Any] = {s: {"sigmoid": r(op), "tanh": r(op * 2)} for s in names}
    d["MLP training step"] = {"sigmoid": r(step), "tanh": r(step)}
    return d | {"op_slower": c06.OP_SLOWER, "step_matters": c06.STEP_MATTERS}


def test_c06_decide() -> None:
    assert c06.decide(_c06(4.0, 1.5), True).verdict == CONFIRMED
    v = c06.decide(_c06(4.0, 1.0), True)
    assert v.verdict == DEPENDS and "1.00x" in v.reason
    assert c06.decide(_c06(1.05, 1.0), True).verdict == REFUTED
    assert c06.decide(_c06(1.5, 1.0, spread=0.3), True).verdict == INCONCLUSIVE
    assert c06.decide(_c06(1.5, 1.0, spread=0.3), False).verdict == DEPENDS


def test_c06_interleaved_keeps_fastest() -> None:
    calls = {"n": 0}

    def f() -> None:
        calls["n"] += 1

    t = c06._interleaved({"relu": f, "sigmoid": f, "tanh": f}, reps=2, inner=3)
    assert calls["n"] == 3 + 2 * 3 * 3 and all(len(v) == 2 and min(v) >= 0 for v in t.values())


def test_c06_measure_tiny(tmp_path: Path) -> None:
    threads = torch.get_num_threads()
    n = check_evidence(c06.measure(tiny_ctx(tmp_path)),
                       ["torch forward", "MLP training step", "numpy forward"])
    assert torch.get_num_threads() == threads  # restored
    assert n["torch forward"]["sigmoid"]["median"] > 0
    c06.decide(n, True)


def test_mean_curve_and_chance_count_diverged_runs() -> None:
    from actlab.report.claims._stats import chance_accuracy, mean_curve

    # a run that diverged after one epoch continues at chance: no ragged-array error, no silent drop
    assert mean_curve([[0.1, 0.5, 0.9], [0.1]], 0.1) == pytest.approx([0.1, 0.3, 0.5])
    assert chance_accuracy("digits") == pytest.approx(0.1, abs=0.02)
    assert 0.55 < chance_accuracy("breast_cancer") < 0.7  # the majority class, not 0.5
