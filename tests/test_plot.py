"""Catalog figures: every entry plots, the derivative panel is the closed form, stochastic entries
get a noise band, kinks are split, save_figure writes atomically and rejects unknown formats."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
import torch

import actlab
from actlab.catalog.plot import FORMATS, apply_params, curves, plot_activations, save_figure

torch.set_num_threads(1)

# small grids: these tests check what is drawn, not how finely
N, SAMPLES = 301, 40


def _lines(ax):
    """(x, y) arrays of the drawn curves (markers excluded)."""
    return [(ln.get_xdata(), ln.get_ydata()) for ln in ax.get_lines() if len(ln.get_xdata()) > 2]


@pytest.mark.parametrize("name", actlab.names())
def test_curves_every_entry(name):
    c = curves(name, n=N, samples=SAMPLES)
    props = actlab.spec(name).properties()
    assert c.pieces, name
    for x, f, d in c.pieces:
        assert x.shape == f.shape == d.shape
        assert torch.isfinite(f).all() and torch.isfinite(d).all(), name
        assert bool((x[1:] > x[:-1]).all())
    # one piece per interval between the kinks inside the range
    inside = [k for k in props.kinks if -5 < k < 5]
    assert len(c.pieces) == len(inside) + 1
    assert [row[0] for row in c.kinks] == sorted(inside)
    # a band exactly for stochastic entries, with lo <= hi everywhere
    assert (c.band is not None) == props.stochastic, name
    if c.band is not None:
        x, flo, fhi, dlo, dhi = c.band
        assert bool((flo <= fhi).all()) and bool((dlo <= dhi).all())
        assert bool((fhi - flo).max() > 0), f"{name}: train-mode draws show no noise"


@pytest.mark.parametrize("name", ["relu", "sigmoid", "hard_sigmoid", "elu", "softplus", "step"])
def test_derivative_panel_is_the_closed_form(name):
    fig = plot_activations(name, n=N, legend=False)
    ax_f, ax_d = fig.axes
    s = actlab.spec(name)
    for ax, fn in ((ax_f, s.fn), (ax_d, s.derivative)):
        (xs, ys), = _lines(ax)  # one NaN-separated line per panel
        xs, ys = torch.tensor(xs, dtype=torch.float64), torch.tensor(ys, dtype=torch.float64)
        ok = ~torch.isnan(xs)
        torch.testing.assert_close(ys[ok], fn(xs[ok]), rtol=1e-12, atol=1e-12)
    assert ax_f.get_ylabel() == "f(x)" and ax_d.get_ylabel() == "f'(x)"
    assert ax_f.get_xlabel() == ax_d.get_xlabel() == "x"
    assert ax_f.get_title(loc="left").startswith(s.name)


def test_kinks_split_and_marked():
    c = curves("relu", n=N)
    (x0, f0, d0, d_left, d_right, f_left, f_right), = c.kinks
    assert (x0, f0, d0) == (0.0, 0.0, 0.0)  # relu'(0) = 0, the documented convention
    assert d_left == 0.0 and d_right == 1.0
    left, right = c.pieces
    assert float(left[0][-1]) < 0.0 < float(right[0][0])  # no sample joins the two sides
    c = curves("step", n=N)
    (x0, f0, d0, _, _, f_left, f_right), = c.kinks
    assert (f0, d0, f_left, f_right) == (0.0, 0.0, 0.0, 1.0)


def test_hard_saturation_is_shaded():
    fig = plot_activations("hard_sigmoid", n=N, legend=False)
    ax_f, _ = fig.axes
    spans = sorted((round(p.get_x(), 9), round(p.get_width(), 9)) for p in ax_f.patches)
    assert spans == [(-5.0, 3.0), (2.0, 3.0)]  # x < -2 and x > 2 (slope 1/4)
    fig = plot_activations("sigmoid", n=N, legend=False)
    assert not fig.axes[0].patches  # soft saturation: nothing shaded


def test_rrelu_band_brackets_the_eval_slope():
    c = curves("rrelu", n=N, samples=200)
    x, flo, fhi, dlo, dhi = c.band
    neg = x < -0.5
    lower, upper = 1 / 8, 1 / 3
    mean = (lower + upper) / 2
    # slopes drawn in [lower, upper]: f = a x with a in [lower, upper], so the band is inside
    assert bool((dlo[neg] >= lower - 1e-12).all()) and bool((dhi[neg] <= upper + 1e-12).all())
    assert bool((flo[neg] <= mean * x[neg]).all()) and bool((mean * x[neg] <= fhi[neg]).all())
    pos = x > 0.5
    torch.testing.assert_close(flo[pos], x[pos])  # no noise for x > 0
    # reproducible: the same seed draws the same band, another seed another one
    again = curves("rrelu", n=N, samples=200).band
    other = curves("rrelu", n=N, samples=200, seed=1).band
    assert all(torch.equal(a, b) for a, b in zip(c.band, again))
    assert not torch.equal(c.band[1], other[1])


def test_noisy_relu_band_and_eval_curve():
    fig = plot_activations("noisy_relu", n=N, samples=SAMPLES)
    ax_f, ax_d = fig.axes
    assert ax_f.collections and ax_d.collections  # the fill_between bands
    (xs, ys), = _lines(ax_f)
    xs, ys = torch.tensor(xs), torch.tensor(ys)
    ok = ~torch.isnan(xs)
    torch.testing.assert_close(ys[ok], torch.relu(xs[ok]).double())  # eval mode: max(0, x)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any("train-mode" in t for t in labels)


def test_all_entries_in_one_gallery(tmp_path):
    names = actlab.names()
    fig = plot_activations(names, columns=4, n=201, samples=16, title="catalog")
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 2 * len(names)
    titles = [ax.get_title(loc="left") for ax in visible[::2]]
    assert [t.split("(")[0].split("\n")[0] for t in titles] == names
    assert all(t.count("\n") <= 1 for t in titles)  # at most two lines
    out = save_figure(fig, tmp_path / "all.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_mixing_entries_have_a_1d_view():
    c = curves("softmax", n=N)
    assert "softmax([x, 0])_0" in c.view
    x, f, d = c.pieces[0]
    torch.testing.assert_close(f, torch.sigmoid(x))  # softmax([x, 0])_0 = sigmoid(x)
    torch.testing.assert_close(d, torch.sigmoid(x) * torch.sigmoid(-x))
    c = curves({"name": "maxout", "k": 3}, n=N)
    assert "maxout([x, 0, 0])" in c.view
    for x, f, _ in c.pieces:
        torch.testing.assert_close(f, x.clamp_min(0))


def test_params_and_modules():
    fig = plot_activations(["relu", "leaky_relu"], params={"negative_slope": 0.2}, n=N)
    assert "negative_slope=0.2" in fig.axes[2].get_title(loc="left")
    c = curves(actlab.get("elu", alpha=2.0), n=N)
    assert c.title == "elu(alpha=2)" and float(c.pieces[0][1][0]) == pytest.approx(2 * math.expm1(-5))
    with pytest.raises(ValueError, match=r"unknown parameter 'alpha'.*valid parameters: negative_slope"):
        apply_params([{"name": "relu"}, {"name": "leaky_relu"}], {"alpha": 1.0})
    with pytest.raises(ValueError, match="negative_slope"):
        plot_activations("leaky_relu", params={"negative_slope": "x"})


def test_user_registered_entry_plots():
    actlab.register("square_plus_t", lambda x: 0.5 * (x + torch.sqrt(x * x + 4)))
    try:
        c = curves("square_plus_t", n=N)
        x, _, d = c.pieces[0]
        torch.testing.assert_close(d, 0.5 * (1 + x / torch.sqrt(x * x + 4)))
    finally:
        actlab.unregister("square_plus_t")


@pytest.mark.parametrize("bad, match", [
    ({"entries": "relux"}, "did you mean relu"),
    ({"entries": []}, "no activations given"),
    ({"entries": "relu", "x_range": (1, -1)}, "LO < HI"),
    ({"entries": "relu", "x_range": (0, math.inf)}, "finite"),
    ({"entries": "relu", "columns": 0}, "columns"),
    ({"entries": "relu", "n": 1}, "n=1"),
    ({"entries": 3.0}, "cannot plot float"),
])
def test_bad_input(bad, match):
    with pytest.raises((ValueError, TypeError), match=match):
        plot_activations(**bad)


@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG"), (".svg", b"<?xml"), (".pdf", b"%PDF")])
def test_save_figure_formats(tmp_path, suffix, magic):
    fig = plot_activations("tanh", n=101, legend=False)
    out = save_figure(fig, tmp_path / "sub" / f"tanh{suffix.upper()}")  # creates sub/, any case
    assert out.read_bytes().startswith(magic)
    assert os.listdir(out.parent) == [out.name]  # no temporary file left behind
    mask = os.umask(0o022)
    os.umask(mask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~mask  # not mkstemp's 0600
    if suffix in (".svg", ".pdf"):  # no timestamps: the same figure gives the same bytes
        again = save_figure(fig, tmp_path / f"again{suffix}")
        assert again.read_bytes() == out.read_bytes()


def test_save_figure_bad_format(tmp_path):
    fig = plot_activations("tanh", n=101, legend=False)
    for name in ("tanh.jpg", "tanh"):
        with pytest.raises(ValueError, match=r"unknown suffix .*valid: \.png, \.svg, \.pdf"):
            save_figure(fig, tmp_path / name)
    assert list(tmp_path.iterdir()) == []
    assert FORMATS == (".png", ".svg", ".pdf")


def test_save_figure_is_atomic(tmp_path):
    target = tmp_path / "fig.png"
    target.write_bytes(b"old")

    class Broken:
        def savefig(self, fh, **kw):
            fh.write(b"half a fi")
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        save_figure(Broken(), target)
    assert target.read_bytes() == b"old"  # the old file is intact
    assert [p.name for p in tmp_path.iterdir()] == ["fig.png"]  # the temporary file is gone
    assert isinstance(save_figure(plot_activations("relu", n=101), target), Path)
    assert target.read_bytes()[:4] == b"\x89PNG"
