"""The noisy-unit demonstrations (actlab.noisy.demo) at tiny scale: shapes, seeding, the
saturated start, the annealing they drive, bad input, tables and the figure."""

from __future__ import annotations

import math

import pytest
import torch

import actlab
from actlab.noisy import NoiseAnnealer, demo, noisy_units

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tiny_digits() -> dict[str, demo.Curves]:
    return demo.digits_demo(seeds=2, epochs=1, width=8, workers=1)


def test_digits_curves_shape_and_range(tiny_digits: dict[str, demo.Curves]) -> None:
    assert list(tiny_digits) == list(demo.DIGITS_VARIANTS)
    for c in tiny_digits.values():
        assert len(c.test_acc) == 2 and all(len(run) == 2 for run in c.test_acc)
        assert all(0.0 <= a <= 1.0 for run in c.test_acc for a in run)
        assert all(math.isnan(run[0]) and run[1] > 0 for run in c.train_loss)


def test_digits_start_saturated(tiny_digits: dict[str, demo.Curves]) -> None:
    # bias 2 with PyTorch's default init: most first-layer pre-activations are beyond +-1 ...
    for c in tiny_digits.values():
        assert all(s > 0.8 for s in c.saturated)
    # ... and the same seed gives the same init for every variant (equal saturation)
    sat = {tuple(c.saturated) for c in tiny_digits.values()}
    assert len(sat) == 1
    # bias 0: few are
    low = demo.digits_demo(seeds=1, epochs=1, width=8, bias=0.0, variants=["hard_tanh"], workers=1)
    assert low["hard_tanh"].saturated[0] < 0.3


def test_digits_seeded_and_noise_matters(tiny_digits: dict[str, demo.Curves]) -> None:
    again = demo.digits_demo(seeds=2, epochs=1, width=8, workers=1, variants=["nan", "hard_tanh"])
    assert again["nan"].test_acc == tiny_digits["nan"].test_acc
    assert again["nan"].train_loss == tiny_digits["nan"].train_loss
    assert again["hard_tanh"].train_loss == tiny_digits["hard_tanh"].train_loss
    # the noise (c = 30 annealed) changes training relative to the c = 0 ablation
    assert tiny_digits["nan"].train_loss != tiny_digits["nan_c0"].train_loss


def test_variant_annealing_reaches_its_end() -> None:
    act = actlab.get(demo._act_config(demo.DIGITS_VARIANTS["nan"], "act", 4))
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), act)
    annealer = demo._annealer(model, demo.DIGITS_VARIANTS["nan"], steps=10)
    assert isinstance(annealer, NoiseAnnealer)
    (_, unit), = noisy_units(model)
    assert unit.c == pytest.approx(30.0) and unit.p.shape == (4,)
    for _ in range(10):
        annealer.step()
    assert unit.c == pytest.approx(0.5)
    assert demo._annealer(model, demo.DIGITS_VARIANTS["nan_c0"], steps=10) is None


def test_counting_batch_counts_distinct_values() -> None:
    g = torch.Generator().manual_seed(0)
    x, y = demo.counting_batch(50, 6, 4, g)
    assert x.shape == (50, 6, 4) and y.shape == (50,)
    seq = x.argmax(-1)
    assert torch.equal(x.sum(-1), torch.ones(50, 6))
    assert [len(set(s.tolist())) - 1 for s in seq] == y.tolist()
    assert y.min() >= 0 and y.max() <= 3


def test_counting_model_forget_bias_and_gates() -> None:
    torch.manual_seed(0)
    cfg = demo.COUNTING_VARIANTS["noisy hard"]
    model = demo._Counter(5, 4, 3, demo._act_config(cfg, "gate", 3), demo._act_config(cfg, "candidate", 3))
    cell = model.lstm.cells[0]
    total = cell.bias_ih + cell.bias_hh  # gates i, f, g, o
    assert torch.equal(total[3:6], torch.ones(3)) and not torch.equal(total[:3], torch.ones(3))
    assert cell.forget_gate.name == "nan_hard_sigmoid" and cell.candidate.name == "nan_hard_tanh"
    assert cell.forget_gate.p.shape == (3,)
    assert model(torch.zeros(2, 4, 5)).shape == (2, 4)  # classes 1..min(length, vocab)


def test_counting_demo_tiny() -> None:
    curves = demo.counting_demo(seeds=1, steps=4, length=4, vocab=3, hidden=4, evals=2, workers=1)
    assert list(curves) == list(demo.COUNTING_VARIANTS)
    for c in curves.values():
        assert len(c.test_acc[0]) == 3 and all(0.0 <= a <= 1.0 for a in c.test_acc[0])
    again = demo.counting_demo(seeds=1, steps=4, length=4, vocab=3, hidden=4, evals=2, workers=1,
                               variants=["noisy hard"])
    assert again["noisy hard"].train_loss == curves["noisy hard"].train_loss


@pytest.mark.parametrize(("call", "match"), [
    (lambda: demo.digits_demo(variants=["nope"]), r"unknown digits variant 'nope'; valid: tanh, hard_tanh"),
    (lambda: demo.digits_demo(variants=[]), r"no variant chosen; valid:"),
    (lambda: demo.digits_demo(seeds=0), r"seeds=0 is invalid; valid: an integer >= 1"),
    (lambda: demo.digits_demo(bias=math.inf), r"bias=inf is invalid"),
    (lambda: demo.counting_demo(variants=["lstm"]), r"unknown counting variant 'lstm'; valid: sigmoid/tanh"),
    (lambda: demo.counting_demo(steps=3, evals=6), r"steps=3 is invalid; valid: an integer >= 6"),
])
def test_bad_input(call, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()


def _fake(name: str, runs: list[list[float]]) -> demo.Curves:
    return demo.Curves(name, test_acc=runs, train_loss=[[math.nan] * len(r) for r in runs])


def test_table_and_summary() -> None:
    curves = {"a": _fake("a", [[0.1, 0.5, 0.9], [0.1, 0.3, 0.7]]), "b": _fake("b", [[0.1, 0.95, 0.96]] * 2)}
    table = demo.format_table(curves, label="step", scale=10).splitlines()
    assert table[0].split() == ["step", "a", "b"]
    assert table[2].split() == ["10", "40.0", "+-", "14.1", "95.0", "+-", "0.0"]
    assert curves["a"].first_reaching(0.8) == [2, None]
    text = demo.summary(curves, 0.8)
    assert "a  2 -" in text and "final: 90.0 70.0" in text and "b  1 1" in text


def test_plot_writes_png(tmp_path) -> None:
    curves = {"a": _fake("a", [[0.1, 0.5], [0.2, 0.6]])}
    out = demo.plot(tmp_path / "sub" / "noisy.png", digits=curves, counting=curves, counting_scale=5)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000


def test_cli_demo_noisy(tmp_path) -> None:
    import json

    from typer.testing import CliRunner

    from actlab.cli import app

    runner = CliRunner()
    png = tmp_path / "noisy.png"
    res = runner.invoke(app, ["demo", "noisy", "--task", "digits", "--seeds", "1", "--epochs", "1",
                              "--workers", "1", "--plot", str(png)])
    assert res.exit_code == 0, res.output
    assert "beyond +-1 at init" in res.output and "nan_c0" in res.output and f"wrote {png}" in res.output
    assert png.read_bytes()[:4] == b"\x89PNG"
    res = runner.invoke(app, ["demo", "noisy", "--task", "counting", "--seeds", "1", "--steps", "6",
                              "--length", "3", "--workers", "1", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert set(data) == {"counting"} and data["counting"]["every"] == 1
    assert set(data["counting"]["variants"]) == set(demo.COUNTING_VARIANTS)
    assert all(len(v["test_acc"][0]) == 7 for v in data["counting"]["variants"].values())


@pytest.mark.parametrize(("args", "match"), [
    (["--task", "mnist"], "--task 'mnist' is invalid; valid: all, digits, counting"),
    (["--task", "digits", "--seeds", "0"], "seeds=0 is invalid"),
    (["--plot", "x.gif"], "valid: a file name ending in .png, .svg, .pdf"),
])
def test_cli_bad_input(args: list[str], match: str) -> None:
    from typer.testing import CliRunner

    from actlab.cli import app

    res = CliRunner().invoke(app, ["demo", "noisy", *args])
    assert res.exit_code == 2
    assert match in res.output and len(res.output.strip().splitlines()) == 1
