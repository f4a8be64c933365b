"""actlab.watch: per-layer statistics against manual computations, verdicts on constructed failing
nets, non-finite localisation, robustness (in-place, shared modules, hooks removed, identical
training, no retained graphs), summary/plot/sinks and the ``actlab diagnose`` CLI."""

from __future__ import annotations

import gc
import json
import math
import warnings
import weakref

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import actlab
import actlab.watch
from actlab import nets
from actlab.watch import WatchCompileError, modularize, read_jsonl, watch

torch.set_num_threads(1)


def _mlp(act: str = "relu", depth: int = 3, width: int = 16, init: str = "kaiming_normal", seed: int = 0,
         **kw: object) -> nn.Sequential:
    return nets.mlp(8, 3, depth=depth, width=width, act=act, init=init, seed=seed, **kw)


def _train(model: nn.Module, steps: int, lr: float = 0.05, batch: int = 32, seed: int = 0,
           in_shape: tuple[int, ...] = (8,), n_classes: int = 3) -> None:
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    for _ in range(steps):
        x = torch.randn(batch, *in_shape, generator=g)
        y = torch.randint(0, n_classes, (batch,), generator=g)
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()


def _hooks(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
               + len(getattr(m, "_backward_pre_hooks", {})) for m in model.modules())


# -- per-layer statistics against manual computations ------------------------------------------------
def test_statistics_match_a_manual_computation() -> None:
    model = _mlp("tanh", depth=3, init="xavier_normal", gain=2.0)
    x = torch.randn(40, 8, generator=torch.Generator().manual_seed(1))
    y = torch.arange(40) % 3
    with actlab.watch(model, sample=None) as mon:  # the package itself is callable
        F.cross_entropy(model(x), y).backward()
    rec = mon.records[0]["layers"]
    # manual: the same forward, keeping every activation output's gradient
    h, outs = x, {}
    for name, m in model.named_children():
        h = m(h)
        if isinstance(m, actlab.Activation):
            h.retain_grad()
            outs[name] = h
    F.cross_entropy(h, y).backward()
    tau_thr = 0.05 * 1.0  # tanh: sup|f'| = 1
    assert [n for n, li in ((li.name, li) for li in mon.layers) if li.kind == "activation"] == list(outs)
    for name, out in outs.items():
        r = rec[name]
        assert r["grad_norm"] == pytest.approx(out.grad.norm().item(), rel=1e-5)
        assert r["mean"] == pytest.approx(out.mean().item(), rel=1e-4, abs=1e-6)
        assert r["std"] == pytest.approx(out.std(unbiased=False).item(), rel=1e-4)
        assert r["zero_fraction"] == pytest.approx((out == 0).float().mean().item())
        pre = torch.atanh(out.detach().double().clamp(-1 + 1e-12, 1 - 1e-12))
        sat = ((1 - torch.tanh(pre) ** 2) < tau_thr).double().mean().item()
        assert r["saturated_fraction"] == pytest.approx(sat, abs=2 / out.numel())
        assert r["min"] == pytest.approx(out.min().item()) and r["max"] == pytest.approx(out.max().item())
    # weight gradients: the monitor's against the model's own .grad (same forward, grads accumulated
    # twice now, so compare the first pass with half of the accumulated gradient)
    for name, m in model.named_children():
        if isinstance(m, nn.Linear):
            assert rec[name]["weight_grad_norm"] == pytest.approx(m.weight.grad.norm().item() / 2, rel=1e-5)
    assert mon.closed and _hooks(model) == 0


def test_saturated_fraction_uses_the_catalog_derivative() -> None:
    # one sigmoid layer fed known pre-activations: |x| > 4.36 is saturated at tau = 0.05
    act = actlab.get("sigmoid")
    lin = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        lin.weight.fill_(1.0)
    model = nn.Sequential(lin, act, nn.Linear(1, 1))
    x = torch.linspace(-8, 8, 1001).unsqueeze(1)
    with watch(model, sample=None) as mon:
        model(x).sum().backward()
    d = actlab.spec("sigmoid").derivative(x)
    expected = (d < 0.05 * 0.25).double().mean().item()
    assert 0.3 < expected < 0.6
    assert mon.records[0]["layers"]["1"]["saturated_fraction"] == pytest.approx(expected)
    # the catalog's threshold: sigmoid'(x) = 0.0125 at |x| = 4.36
    assert expected == pytest.approx((x.abs() > 4.3605).double().mean().item(), abs=2e-3)


def test_dead_units_over_the_window() -> None:
    lin = nn.Linear(4, 6)
    with torch.no_grad():
        lin.weight.zero_()
        lin.bias.copy_(torch.tensor([1.0, 1.0, 1.0, -1.0, -1.0, 0.0]))
        lin.weight[5, 0] = 1.0  # unit 5 fires where x[:, 0] > 0
    model = nn.Sequential(lin, nn.ReLU(), nn.Linear(6, 2))
    mon = watch(model, window=3, step="manual")
    x_on = torch.ones(5, 4)
    x_off = -torch.ones(5, 4)
    fractions = []
    for x in (x_on, x_off, x_off, x_off, x_off):
        model(x).sum().backward()
        mon.step()
        fractions.append(mon.records[-1]["layers"]["1"]["dead_fraction"])
    mon.close()
    # units 3, 4 never fire; unit 5 fired at step 0 only, so it counts as dead once 3 recorded steps
    # without a firing have passed (window = 3): steps 0..2 -> 2/6, step 3 on -> 3/6
    assert fractions == pytest.approx([2 / 6, 2 / 6, 2 / 6, 3 / 6, 3 / 6])
    assert mon.records[-1]["layers"]["1"]["dead_units"] == 3
    assert mon.layers[1].activation == "relu" and mon.layers[1].units == 6


# -- model families and activation mapping ----------------------------------------------------------
class _Block(nn.Module):
    def __init__(self, d: int, act: nn.Module) -> None:
        super().__init__()
        self.lin, self.act = nn.Linear(d, d), act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.act(self.lin(x))


class _Nested(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Linear(8, 16)
        self.blocks = nn.ModuleList([_Block(16, a) for a in (nn.ReLU(inplace=True), nn.LeakyReLU(0.2),
                                                              nn.GELU(), nn.SiLU(), nn.ELU(), nn.Tanh())])
        self.head = nn.Sequential(nn.LayerNorm(16), nn.Linear(16, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)
        for b in self.blocks:
            h = b(h)
        return self.head(h)


def test_nested_modules_and_torch_activations_map_to_the_catalog() -> None:
    model = _Nested()
    with watch(model) as mon:
        _train(model, 3)
    acts = {li.module_name: li for li in mon.layers if li.kind == "activation"}
    assert {k: v.activation for k, v in acts.items()} == {
        "blocks.0.act": "relu", "blocks.1.act": "leaky_relu", "blocks.2.act": "gelu",
        "blocks.3.act": "silu", "blocks.4.act": "elu", "blocks.5.act": "tanh"}
    assert acts["blocks.1.act"].params.get("negative_slope") == pytest.approx(0.2)
    kinds = {li.name: li.kind for li in mon.layers}
    assert kinds["inp"] == "linear" and kinds["head.0"] == "norm" and kinds["head.1"] == "linear"
    last = mon.records[-1]["layers"]
    for name in acts:  # in-place ReLU included: forward statistics and the backward signal
        assert {"mean", "std", "zero_fraction", "dead_fraction", "grad_norm"} <= set(last[name])
    assert last["blocks.0.act"]["saturated_fraction"] == last["blocks.0.act"]["zero_fraction"]
    assert "saturated_fraction" in last["blocks.5.act"]
    assert mon.invisible == ["inp"] and len(mon.records) == 3  # a projection with no activation after it


def test_conv_nets_count_units_per_channel() -> None:
    model = nn.Sequential(nn.Conv1d(2, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6, 3))
    cnn2 = nets.small_cnn((1, 8, 8), 3, channels=(4, 6), act="relu", init="kaiming_normal", seed=0)
    with watch(model) as m1:
        _train(model, 2, in_shape=(2, 8))
    with watch(cnn2) as m2:
        _train(cnn2, 2, in_shape=(64,))
    assert [(li.kind, li.units) for li in m1.layers] == [("conv", None), ("activation", 4), ("linear", None)]
    acts2 = [li for li in m2.layers if li.kind == "activation"]
    assert [li.units for li in acts2] == [4, 6]
    assert [li.kind for li in m2.layers if li.kind != "activation"] == ["conv", "conv", "linear"]
    for mon in (m1, m2):
        layers = mon.records[-1]["layers"]
        assert all("weight_grad_norm" in layers[li.name] for li in mon.layers if li.kind != "activation")


class _RNN(nn.Module):
    def __init__(self, kind: str) -> None:
        super().__init__()
        self.rnn = getattr(nn, kind)(4, 8, batch_first=True)
        self.act = nn.Tanh()
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.head(self.act(out[:, -1]))


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_torch_recurrent_layers(kind: str) -> None:
    model = _RNN(kind)
    x = torch.randn(5, 6, 4, generator=torch.Generator().manual_seed(0))
    with watch(model) as mon:
        model(x).pow(2).sum().backward()
    rec = mon.records[0]["layers"]
    assert [li.kind for li in mon.layers] == ["rnn", "activation", "linear"]
    kernels = [p.grad for n, p in model.rnn.named_parameters() if n.startswith("weight")]
    manual = math.sqrt(sum(float(g.norm()) ** 2 for g in kernels))
    assert rec["rnn"]["weight_grad_norm"] == pytest.approx(manual, rel=1e-5)
    assert rec["rnn"]["grad_norm"] > 0 and rec["act"]["grad_norm"] > 0


def test_shared_activation_module_is_one_layer_per_call_site() -> None:
    class Shared(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.l1, self.l2, self.l3 = nn.Linear(8, 8), nn.Linear(8, 8), nn.Linear(8, 3)
            self.relu = nn.ReLU()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.l3(self.relu(self.l2(self.relu(self.l1(x)))))

    model = Shared()
    with watch(model) as mon:
        _train(model, 3)
    names = [li.name for li in mon.layers if li.kind == "activation"]
    assert names == ["relu@l1", "relu@l2"]
    assert all(n in mon.records[-1]["layers"] for n in names)


# -- non-finite values ------------------------------------------------------------------------------
class _Poison(nn.Module):
    """Identity, but from step ``at`` on its output (forward) or its input's gradient (backward)
    becomes NaN."""

    def __init__(self, at: int, where: str) -> None:
        super().__init__()
        self.at, self.where, self.t = at, where, -1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and torch.is_grad_enabled():
            self.t += 1
        if self.t >= self.at:
            if self.where == "forward":
                return x * float("nan")
            return _NaNGrad.apply(x)
        return x


class _NaNGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx: object, x: torch.Tensor) -> torch.Tensor:
        return x.clone()

    @staticmethod
    def backward(ctx: object, g: torch.Tensor) -> torch.Tensor:
        return g * float("nan")


@pytest.mark.parametrize("where", ["forward", "backward"])
def test_first_non_finite_layer_and_step(where: str) -> None:
    # Linear(0) tanh(1) Linear(2) Poison(3) tanh(4) Linear(5) tanh(6) Linear(7)
    model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 16), _Poison(2, where), nn.Tanh(),
                          nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 3))
    with watch(model) as mon:
        g = torch.Generator().manual_seed(0)
        for _ in range(4):
            model(torch.randn(4, 8, generator=g)).sum().backward()  # no optimizer: weights stay finite
    s = mon.summary()
    if where == "forward":
        assert mon.nonfinite_forward == {"layer": "4", "step": 2}  # the first watched layer after it
        # d(sum)/d(output) is 1 even for a NaN output, and W7^T 1 reaches tanh 6 finite; the signal
        # crosses tanh'(NaN) on its way to tanh 4
        assert mon.nonfinite_backward == {"layer": "4", "step": 2}
    else:
        # finite forward; the backward signal turns NaN below the poison: tanh 1 is reached after
        # tanh 6 and 4 (finite) in backward order
        assert mon.nonfinite_forward is None
        assert mon.nonfinite_backward == {"layer": "1", "step": 2}
    assert s.problems[0] == "non_finite" and "exploding" in s.problems
    assert s.evaluated_steps == [0, 1]  # verdicts come from the steps before the NaN
    assert "step 2" in s.text


def test_overflowing_norm_of_finite_gradients_is_not_reported_as_inf() -> None:
    # gradients of ~1e20 per element: finite, but their float32 norm overflows
    model = nn.Sequential(nn.Linear(4, 64), nn.ReLU(), nn.Linear(64, 1))
    with torch.no_grad():
        model[2].weight.fill_(1e20)
        model[0].weight.fill_(1.0)
    with watch(model) as mon:
        model(torch.ones(8, 4)).sum().backward()
    assert math.isinf(mon.records[0]["layers"]["1"]["grad_norm"])
    assert mon.nonfinite_backward is None and mon.nonfinite_forward is None


# -- verdicts on constructed failing nets ------------------------------------------------------------
def _diagnose(model: nn.Module, steps: int, lr: float, seed: int = 0) -> actlab.watch.Summary:
    with watch(model, window=10) as mon:
        _train(model, steps, lr=lr, seed=seed)
    return mon.summary()


def test_verdict_vanishing_deep_sigmoid() -> None:
    s = _diagnose(_mlp("sigmoid", depth=12, init="xavier_uniform"), 15, lr=0.1)
    assert "vanishing" in s.problems and "exploding" not in s.problems
    assert s.signal_grad_ratio < 1e-3
    v = s.verdict("vanishing")
    assert v.layers and v.layers[0] in ("1", "3", "5") and "He init" in v.remedy
    # mean field (issue 7): sigmoid at Xavier scale is deep in the ordered phase, and the measured
    # per-layer ratio of squared backward signals agrees with chi_1
    mf = s.mean_field
    assert mf.phase == "ordered" and len(mf.pairs) == 11
    assert mf.chi1 < 0.2 and mf.measured == pytest.approx(mf.chi1, rel=0.3)
    assert "mean field at the current weights: chi_1 =" in s.text


def test_verdict_exploding_large_init() -> None:
    s = _diagnose(_mlp("relu", depth=8, init="kaiming_normal", gain=4.0), 10, lr=1e-4)
    assert "exploding" in s.problems and "vanishing" not in s.problems
    assert s.signal_grad_ratio > 70
    assert "gradient clipping" in s.verdict("exploding").remedy


def test_verdict_exploding_overflow_to_nan() -> None:
    s = _diagnose(_mlp("relu", depth=10, width=64, init="kaiming_normal", gain=4.0), 8, lr=0.01)
    assert s.problems[:2] == ["non_finite", "exploding"]
    assert s.nonfinite_forward is not None and s.nonfinite_backward is not None


def test_verdict_dead_relu_after_too_large_learning_rate() -> None:
    model = _mlp("relu", depth=3, width=32)
    with watch(model, window=10) as mon:
        _train(model, 2, lr=3.0)  # one huge step knocks the units out
        _train(model, 20, lr=1e-3, seed=1)
    s = mon.summary()
    assert s.nonfinite_forward is None
    assert "dead_units" in s.problems
    v = s.verdict("dead_units")
    assert v.evidence["dead_fraction"][v.layers[0]] >= 0.1 and "leaky_relu" in v.remedy


def test_verdict_saturation() -> None:
    s = _diagnose(_mlp("tanh", depth=4, width=32, init="xavier_normal", gain=4.0), 10, lr=1e-3)
    assert "saturation" in s.problems
    assert s.text.splitlines()[-1].startswith("=> problems: ") and "saturation" in s.text.splitlines()[-1]
    assert all(li.saturated_fraction >= 0.25 for li in s.layers if li.name in s.verdict("saturation").layers)


def test_healthy_relu_with_he_init() -> None:
    s = _diagnose(_mlp("relu", depth=4, width=32), 20, lr=0.02)
    assert s.healthy and s.problems == []
    assert "healthy" in s.text
    assert s.mean_field.phase == "near-critical"  # relu + He: chi_1 = sigma_w^2 / 2 ~ 1
    assert s.mean_field.measured == pytest.approx(1.0, rel=0.3)
    pair = s.to_dict()["mean_field"]["pairs"][0]
    assert (pair["from"], pair["linear"], pair["to"]) == ("1", "2", "3")


# -- summary, plot, sinks ---------------------------------------------------------------------------
def test_summary_structure_text_and_json(tmp_path) -> None:
    model = _mlp("sigmoid", depth=10, init="xavier_uniform")
    path = tmp_path / "w.jsonl"
    with watch(model, jsonl=path, every=2) as mon:
        _train(model, 9, lr=0.1)
    s = mon.summary()
    d = s.to_dict()
    assert json.loads(s.to_json()) == d
    assert d["recorded"] == 5 and d["steps"] == 9 and d["every"] == 2
    assert d["verdicts"][0]["name"] == "vanishing"
    assert {li["name"] for li in d["layers"]} == {li.name for li in mon.layers}
    text = str(s)
    assert "vanishing" in text and "worst layers: 1 (sigmoid)" in text and "try: " in text
    assert [r["step"] for r in read_jsonl(path)] == [0, 2, 4, 6, 8]
    assert read_jsonl(path)[-1]["layers"]["1"]["grad_norm"] == pytest.approx(
        mon.records[-1]["layers"]["1"]["grad_norm"])


def test_plot_writes_a_png(tmp_path) -> None:
    model = _mlp("relu", depth=4)
    with watch(model) as mon:
        _train(model, 6)
    out = mon.plot(tmp_path / "watch.png")
    data = (tmp_path / "watch.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    assert len(out.axes) >= 3
    with pytest.raises(ValueError, match=r"valid: \.png"):
        mon.plot(tmp_path / "watch.txt")


def test_plot_marks_non_finite_norms_and_centres_steps() -> None:
    from matplotlib.collections import PathCollection

    model = _mlp("relu", depth=4)
    with torch.no_grad():
        model[0].weight.mul_(1e30)  # overflow: inf/NaN gradients from the first step on
    with watch(model) as mon:
        _train(model, 3)
    fig = mon.plot()
    heat, flow = fig.axes[0], fig.axes[1]
    left, right = heat.get_images()[0].get_extent()[:2]
    assert (left, right) == (-0.5, 2.5)  # three recorded steps, one column each, centred on 0, 1, 2
    marks = [c for c in flow.collections if isinstance(c, PathCollection)]
    assert marks and "NaN/Inf (drawn at the top)" in [t.get_text() for t in flow.get_legend().get_texts()]


# -- robustness -------------------------------------------------------------------------------------
def test_hooks_removed_on_close_and_when_the_loop_raises() -> None:
    model = _Nested()
    before = _hooks(model)
    mon = watch(model)
    _train(model, 2)
    assert _hooks(model) > before
    mon.close()
    mon.close()  # idempotent
    assert _hooks(model) == before
    with pytest.raises(RuntimeError, match="boom"), watch(model) as mon2:
        _train(model, 1)
        raise RuntimeError("boom")
    assert mon2.closed and _hooks(model) == before


def test_training_is_identical_with_and_without_the_monitor() -> None:
    a, b = _Nested(), _Nested()
    b.load_state_dict(a.state_dict())
    with watch(a, every=1):
        _train(a, 12)
    _train(b, 12)
    for (n, p), q in zip(a.named_parameters(), b.parameters()):
        assert torch.equal(p, q), n


def test_no_retained_graphs_over_1000_steps() -> None:
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(inplace=True), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 2))
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    x = torch.randn(16, 4)
    refs = []

    def live_tensors() -> int:
        gc.collect()
        with warnings.catch_warnings():  # isinstance on torch's lazy deprecated module attributes warns
            warnings.simplefilter("ignore")
            return sum(1 for o in gc.get_objects() if isinstance(o, torch.Tensor))

    with watch(model, every=1) as mon:
        for t in range(1000):
            out = model(x)
            if t in (10, 500):
                refs.append(weakref.ref(out))
            opt.zero_grad()
            out.sum().backward()
            opt.step()
            if t == 100:
                n100 = live_tensors()
        del out
        n1000 = live_tensors()
    assert len(mon.records) == 1000
    assert all(r() is None for r in refs)  # no output (and so no graph) kept alive by the monitor
    assert n1000 <= n100


def test_every_records_one_step_in_n_and_evaluation_is_ignored() -> None:
    model = _mlp()
    with watch(model, every=5) as mon:
        _train(model, 12)
        with torch.no_grad():
            model(torch.randn(3, 8))
    assert [r["step"] for r in mon.records] == [0, 5, 10] and mon.steps_seen == 12


def test_optimizer_step_mode_for_several_forwards_per_step() -> None:
    model = _mlp(depth=2)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    with watch(model, optimizer=opt) as mon:
        for _ in range(3):
            opt.zero_grad()
            for _ in range(2):  # two micro-batches, gradients accumulated
                model(torch.randn(4, 8)).sum().backward()
            opt.step()
    assert [r["step"] for r in mon.records] == [0, 1, 2]
    assert mon.records[0]["layers"]["1"]["calls"] == 2
    assert mon.steps_seen == 3 and mon.summary().steps == 3  # not the 4th step begun by the last step()


@pytest.mark.parametrize("mode", ["forward", "optimizer", "manual"])
def test_step_counts_agree_in_every_step_mode(mode: str) -> None:
    model = _mlp(depth=2)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    kwargs = {"optimizer": opt} if mode == "optimizer" else {"step": "manual"} if mode == "manual" else {}
    mon = watch(model, **kwargs)
    for _ in range(3):
        opt.zero_grad()
        model(torch.randn(4, 8)).sum().backward()
        opt.step()
        if mode == "manual":
            mon.step()
    assert "3 recorded steps of 3" in repr(mon)  # before anything is read: the last step counts too
    s = mon.summary()
    assert (s.steps, s.recorded) == (3, 3)
    model(torch.randn(4, 8)).sum().backward()  # a 4th step under way (not yet ended by step())
    assert "4 recorded steps of 4" in repr(mon)
    mon.close()


def test_torch_compile_is_refused_not_silently_wrong() -> None:
    model = _mlp()
    compiled = torch.compile(model)
    with pytest.raises(WatchCompileError, match=r"torch\.compile"):
        watch(compiled)
    # compiling a watched model: the hooks raise while dynamo traces them, before any wrong number
    with watch(model) as mon, pytest.raises(WatchCompileError, match="Watch the eager model"):
        compiled(torch.randn(3, 8))
    assert mon.records == [] and _hooks(model) == 0


def test_functional_activations_are_reported_and_modularize_makes_them_visible() -> None:
    class Functional(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b, self.c = nn.Linear(8, 16), nn.Linear(16, 16), nn.Linear(16, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.c(torch.tanh(self.b(F.leaky_relu(self.a(x), 0.1))))

    model = Functional()
    with watch(model) as mon:
        _train(model, 2)
    s = mon.summary()
    assert s.invisible == ["a", "b"] and s.verdict("no_visible_activation") is not None
    assert "modularize" in s.text
    mod = modularize(model)
    x = torch.randn(5, 8)
    assert torch.equal(mod(x), model(x))
    with watch(mod) as mon2:
        _train(mod, 2)
    acts = [(li.activation, li.params.get("negative_slope")) for li in mon2.layers if li.kind == "activation"]
    assert acts == [("leaky_relu", 0.1), ("tanh", None)] and mon2.summary().invisible == []


@pytest.mark.parametrize(("name", "params"), [("hard_sigmoid", {}), ("prelu", {}), ("maxout", {"k": 2}),
                                             ("nan_relu", {})])
def test_modularize_keeps_catalog_modules_whole(name: str, params: dict) -> None:
    class Mixed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.act = nn.Linear(4, 8), actlab.get(name, **params)
            self.b = nn.Linear(4 if name == "maxout" else 8, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.b(self.act(F.relu(self.a(x))))

    model = Mixed().eval()
    mod = modularize(model)
    x = torch.randn(5, 4)
    torch.testing.assert_close(mod(x), model(x))
    assert [type(m).__name__ for m in mod.children()].count("ReLU") == 1 and mod.act is model.act


def test_torch_prelu_is_named_by_its_learned_slope() -> None:
    # nn.PReLU serializes to its constructor's init; the monitor (and its mean-field check) must see
    # the slope the layer has now
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.PReLU(), nn.Linear(16, 16), nn.PReLU(), nn.Linear(16, 3))
    with torch.no_grad():
        for m in model:
            if isinstance(m, nn.PReLU):
                m.weight.fill_(1.0)  # slope 1: the identity
    with watch(model) as mon:
        _train(model, 2)
    acts = [li for li in mon.layers if li.kind == "activation"]
    assert all(li.params["init"] == pytest.approx(1.0, abs=1e-3) for li in acts)


def test_actlab_prelu_properties_follow_its_learned_slope() -> None:
    # actlab's PReLU as torch's: properties (monotonic, saturation threshold) at the slope it has now
    from actlab.watch.layers import activation_info

    m = actlab.get("prelu", init=0.0)
    with torch.no_grad():
        m.weight.fill_(-2.0)
    info = activation_info(m, 0.05)
    assert info.params["init"] == -2.0 and not info.monotonic and info.threshold == pytest.approx(0.1)
    assert m.params["init"] == 0.0  # the module's own config is untouched


def test_callable_module_shows_the_signature_of_watch() -> None:
    import inspect

    assert inspect.signature(actlab.watch) == inspect.signature(watch)  # call tips list every option
    assert "every" in inspect.signature(actlab.watch).parameters


def test_history_rejects_unknown_statistics_and_layers() -> None:
    model = _mlp(depth=2)
    with watch(model) as mon:
        _train(model, 2)
    steps, names, vals = mon.history("grad_norm")
    assert steps == [0, 1] and vals.shape == (2, len(names))
    with pytest.raises(ValueError, match=r"unknown statistic 'gout_nrm'; valid: .*grad_norm"):
        mon.history("gout_nrm")
    with pytest.raises(ValueError, match=r"unknown layer\(s\) \['9'\]"):
        mon.history("grad_norm", ["9"])


def test_bad_arguments_name_the_valid_choices() -> None:
    model = _mlp()
    with pytest.raises(ValueError, match="every=0 is invalid; valid: an integer >= 1"):
        watch(model, every=0)
    with pytest.raises(ValueError, match="valid: forward, manual, optimizer"):
        watch(model, step="epoch")
    with pytest.raises(ValueError, match="saturation_threshold"):
        watch(model, saturation_threshold=2.0)
    with pytest.raises(TypeError, match=r"torch\.nn\.Module"):
        watch("model")  # type: ignore[arg-type]
    assert _hooks(model) == 0


def test_history_gives_a_steps_by_layers_array() -> None:
    model = _mlp(depth=3)
    with watch(model) as mon:
        _train(model, 4)
    steps, names, vals = mon.history("grad_norm", ["1", "3", "5"])
    assert steps == [0, 1, 2, 3] and names == ["1", "3", "5"] and vals.shape == (4, 3)
    assert np.isfinite(vals).all()


# -- CLI: actlab diagnose ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cli():
    from typer.testing import CliRunner

    from actlab.cli import app

    runner = CliRunner()
    return lambda *args: runner.invoke(app, ["diagnose", *args])


@pytest.mark.parametrize(("args", "expected"), [
    (["--act", "sigmoid", "--depth", "12", "--width", "32", "--init", "xavier_uniform", "--lr", "0.1",
      "--steps", "20"], ["vanishing"]),
    (["--act", "relu", "--depth", "10", "--width", "64", "--gain", "4", "--lr", "0.01", "--steps", "20"],
     ["non_finite", "exploding"]),
    (["--act", "relu", "--depth", "4", "--width", "64", "--optimizer", "adam", "--lr", "0.1",
      "--steps", "60"],
     ["dead_units"]),
    (["--act", "relu", "--depth", "4", "--width", "64", "--lr", "0.02", "--steps", "40"], []),
], ids=["vanishing", "exploding", "dead", "healthy"])
def test_cli_diagnose_shows_each_failure_mode(cli, args: list[str], expected: list[str]) -> None:
    r = cli(*args, "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    problems = [v["name"] for v in d["verdicts"] if v["severity"] != "info"]
    assert all(p in problems for p in expected), problems
    assert d["healthy"] == (expected == [])
    if "non_finite" in expected:
        assert d["run"]["stopped"] and d["nonfinite_forward"]["step"] == d["run"]["steps"] - 1


def test_cli_diagnose_text_and_plot(cli, tmp_path) -> None:
    png = tmp_path / "d.png"
    r = cli("--act", "sigmoid", "--depth", "10", "--width", "32", "--init", "xavier_uniform", "--steps", "10",
            "--plot", str(png))
    assert r.exit_code == 0, r.output
    assert "MLP 10x32 sigmoid" in r.output and "WARN  vanishing" in r.output and "try: " in r.output
    assert r.output.strip().splitlines()[-2] == "=> problems: vanishing"  # then the plot path
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_cli_diagnose_explicit_variances(cli) -> None:
    # tanh with sigma_w2 = 1, sigma_b2 = 0 sits on the critical line: chi_1 = 1 at q* = 0
    r = cli("--act", "tanh", "--depth", "6", "--width", "32", "--init", "sigma", "--sigma-w2", "1",
            "--sigma-b2", "0", "--steps", "2", "--lr", "1e-4", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["mean_field"]["chi1"] == pytest.approx(1.0, abs=0.05)
    r = cli("--init", "sigma", "--steps", "2")
    assert r.exit_code == 2 and "needs sigma_w2" in r.output


def test_cli_diagnose_bad_input_is_one_line(cli) -> None:
    r = cli("--dataset", "mnist", "--steps", "2")
    assert r.exit_code == 2 and "unknown dataset 'mnist'; valid: xor" in r.output
    r = cli("--optimizer", "lbfgs", "--steps", "2")
    assert r.exit_code == 2 and "valid: sgd, momentum, adam" in r.output


def test_tensorboard_sink_writes_or_says_how_to_install(tmp_path) -> None:
    model = _mlp(depth=2)
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install"):
            watch(model, tensorboard=tmp_path / "tb")
        assert _hooks(model) == 0
        return
    with watch(model, tensorboard=tmp_path / "tb"):
        _train(model, 2)
    assert any((tmp_path / "tb").iterdir())
