"""``actlab list / show / plot`` (typer.testing.CliRunner), ``actlab --help``, ``python -m actlab``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from typer.testing import CliRunner

import actlab
from actlab.cli import app

torch.set_num_threads(1)

WIDE = {"COLUMNS": "200"}  # Rich tables are not squeezed into 80 columns


@pytest.fixture
def runner():
    return CliRunner()


def _ok(result):
    assert result.exit_code == 0, result.output
    return result.output


def _error(result, *fragments):
    """A one-line error on stderr and exit code 2."""
    assert result.exit_code == 2, result.output
    err = result.stderr.strip()
    assert err.startswith("actlab: error: ") and "\n" not in err, err
    for f in fragments:
        assert f in err, err
    return err


def test_help(runner):
    out = _ok(runner.invoke(app, ["--help"]))
    for cmd in ("list", "show", "plot"):
        assert cmd in out
    for cmd in ("list", "show", "plot"):
        assert "Usage" in _ok(runner.invoke(app, [cmd, "--help"]))


def test_list_every_entry(runner):
    out = _ok(runner.invoke(app, ["list"], env=WIDE))
    for name in actlab.names():
        assert name in out
    assert len([n for n in actlab.names() if not actlab.spec(n).user]) >= 25
    rows = {line.split()[0]: line for line in out.splitlines()[4:] if line.strip()}
    assert list(rows) == actlab.names()
    assert rows["hard_sigmoid"].split()[1:6] == ["hardsigmoid", "[0,", "1]", "hard@-2", "/"]
    assert "0.25" in rows["hard_sigmoid"] and "Hardsigmoid (slope=1/6)" in rows["hard_sigmoid"]
    assert "logistic" in rows["sigmoid"] and "(0, 1)" in rows["sigmoid"] and "soft / soft" in rows["sigmoid"]


def test_list_fits_narrow_terminals(runner):
    out = _ok(runner.invoke(app, ["list"], env={"COLUMNS": "100"}))
    assert max(len(line) for line in out.splitlines()) <= 100
    header = out.splitlines()[2].split()
    assert "PyTorch" not in header and "aliases" not in header  # dropped first
    for col in ("name", "range", "sup|f'|", "mono", "0-ctr", "learn", "stoch"):
        assert col in header


def test_list_piped_is_not_cut_to_80_columns(runner, monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)  # a pipe: Rich would cut cells to 80 columns with "..."
    out = _ok(runner.invoke(app, ["list"]))
    assert "\u2026" not in out and "nanil_hard_sigmoid" in out
    assert {"learn", "stoch", "smooth"} <= set(out.splitlines()[2].split())


def test_list_json_matches_the_specs(runner):
    data = json.loads(_ok(runner.invoke(app, ["list", "--json"])))
    assert [d["name"] for d in data] == actlab.names()
    relu = next(d for d in data if d["name"] == "relu")
    assert relu["properties"]["output_range"] == [0.0, "inf"]  # strict JSON, no Infinity
    assert relu["properties"]["saturation"][0] == {"kind": "hard", "threshold": 0.0}


@pytest.mark.parametrize("flag, field, want", [
    ("--stochastic", "stochastic", True), ("--deterministic", "stochastic", False),
    ("--learnable", "learnable", True), ("--fixed", "learnable", False),
    ("--monotonic", "monotonic", True), ("--non-monotonic", "monotonic", False),
])
def test_list_filters(runner, flag, field, want):
    data = json.loads(_ok(runner.invoke(app, ["list", flag, "--json"])))
    expected = [n for n in actlab.names() if getattr(actlab.spec(n).properties(), field) == want]
    assert [d["name"] for d in data] == expected and expected


def test_list_filters_combined(runner):
    data = json.loads(_ok(runner.invoke(app, ["list", "--saturation", "hard", "--torch", "--json"])))
    names = {d["name"] for d in data}
    assert {"relu", "hard_tanh", "hard_sigmoid", "step", "relu6"} <= names
    assert not names & {"sigmoid", "maxout", "noisy_relu", "elu"}
    out = _ok(runner.invoke(app, ["list", "--stochastic"], env=WIDE))
    names = [line.split()[0] for line in out.splitlines()[4:] if line.strip()]
    assert "rrelu" in names and "noisy_relu" in names and "sigmoid" not in names
    _error(runner.invoke(app, ["list", "--saturation", "hrad"]), "none, soft, hard")


def test_show(runner):
    out = _ok(runner.invoke(app, ["show", "logistic"], env=WIDE))  # an alias
    assert out.startswith("sigmoid")
    assert "0.659046" in out  # the fixed point of sigmoid
    assert "torch.nn.Sigmoid" in out and "sup |f'|" in out and "0.25" in out
    out = _ok(runner.invoke(app, ["show", "hard_sigmoid"], env=WIDE))
    assert "slope" in out and "0.25" in out and "(0, inf)" in out  # parameter, default, valid range
    assert "Gulcehre" in out and "Hardsigmoid (slope=1/6)" in out
    assert "f'(-2) = 0, f'(2) = 0" in out
    out = _ok(runner.invoke(app, ["show", "relu"], env=WIDE))
    assert "f'(0) = 0" in out and "[0, inf)" in out


def test_show_params_change_the_properties(runner):
    out = _ok(runner.invoke(app, ["show", "hard_sigmoid", "--param", "slope=0.5"], env=WIDE))
    assert "hard@-1" in out and "hard@1" in out and "slope=0.5" in out
    d = json.loads(_ok(runner.invoke(app, ["show", "elu", "--param", "alpha=2", "--json"])))
    assert d["resolved_params"] == {"alpha": 2.0}
    assert d["properties"]["output_range"] == [-2.0, "inf"]
    assert d["formula"] and d["reference"].startswith("Clevert")


def test_show_errors(runner):
    err = _error(runner.invoke(app, ["show", "relux"]), "unknown activation 'relux'", "relu")
    assert "did you mean" in err
    err = _error(runner.invoke(app, ["show", "qqqqqq"]), "valid: identity, step")
    assert all(n in err for n in actlab.names())
    _error(runner.invoke(app, ["show", "elu", "--param", "beta=2"]), "unknown parameter 'beta'",
           "valid parameters: alpha")
    _error(runner.invoke(app, ["show", "elu", "--param", "alpha=-1"]), "alpha", "(0, inf)")
    _error(runner.invoke(app, ["show", "elu", "--param", "alpha"]), "NAME=VALUE")
    _error(runner.invoke(app, ["show", "elu", "--param", "alpha=x"]), "must be a number")


def test_plot_files(runner, tmp_path):
    out = tmp_path / "acts.png"
    r = runner.invoke(app, ["plot", "relu", "lrelu", "--param", "negative_slope=0.2", "--range", "-3", "3",
                            "--points", "201", "--out", str(out)])
    assert "wrote" in _ok(r)
    assert out.read_bytes()[:4] == b"\x89PNG"
    svg = tmp_path / "x.svg"
    _ok(runner.invoke(app, ["plot", "rrelu", "--points", "101", "--samples", "8", "--out", str(svg)]))
    text = svg.read_text()
    assert text.startswith("<?xml") and "rrelu" in text
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:  # default file name: NAME.png
        _ok(runner.invoke(app, ["plot", "tanh", "--points", "101"]))
    finally:
        os.chdir(cwd)
    assert (tmp_path / "tanh.png").exists()


def test_plot_errors(runner, tmp_path):
    _error(runner.invoke(app, ["plot", "relux", "--out", str(tmp_path / "a.png")]), "did you mean")
    _error(runner.invoke(app, ["plot", "relu", "--out", str(tmp_path / "a.jpg")]),
           "unknown suffix '.jpg'", ".png, .svg, .pdf")
    _error(runner.invoke(app, ["plot", "relu", "--param", "alpha=1"]), "unknown parameter 'alpha'")
    _error(runner.invoke(app, ["plot", "relu", "--range", "3", "1"]), "--range 3 1", "LO < HI")
    _error(runner.invoke(app, ["plot"]), "--all")
    _error(runner.invoke(app, ["plot", "relu", "--all", "--out", str(tmp_path)]), "not both")
    _error(runner.invoke(app, ["plot", "--all"]), "--out DIR")
    _error(runner.invoke(app, ["plot", "--all", "--out", str(tmp_path), "--format", "gif"]),
           "valid: png, svg, pdf")
    assert list(tmp_path.iterdir()) == []  # nothing half-done


def test_plot_all(runner, tmp_path, monkeypatch):
    # the full catalog takes ~30 s to render; the command's logic is the same for a subset
    subset = ["relu", "rrelu", "softmax", "hard_sigmoid"]
    real = actlab.names
    monkeypatch.setattr(actlab, "names", lambda include_aliases=False: subset if not include_aliases
                        else real(include_aliases=True))
    r = runner.invoke(app, ["plot", "--all", "--out", str(tmp_path / "plots"), "--points", "101",
                            "--samples", "8", "--param", "slope=0.5"])
    assert "wrote 4 figures" in _ok(r)
    files = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert files == sorted([f"{n}.png" for n in subset] + ["catalog.png"])


def test_python_dash_m():
    env = {**os.environ, "COLUMNS": "200"}
    r = subprocess.run([sys.executable, "-m", "actlab", "show", "relu"], capture_output=True, text=True,
                       timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    assert "torch.nn.ReLU" in r.stdout
    r = subprocess.run([sys.executable, "-m", "actlab", "show", "relux"], capture_output=True, text=True,
                       timeout=120, env=env)
    assert r.returncode == 2 and r.stderr.startswith("actlab: error: unknown activation")


@pytest.mark.parametrize(("args", "message"), [
    (["foo"], "actlab: error: No such command 'foo'; valid: list, show, plot, diagnose"),
    (["sweep", "foo"], "actlab: error: No such command 'foo'; valid: run, status, table, plot"),
    (["demo", "noizy"], "actlab: error: No such command 'noizy' (did you mean 'noisy'?); valid: noisy"),
    (["list", "--bogus"], "actlab: error: No such option: --bogus"),
    (["diagnose", "--depth", "abc"], "actlab: error: Invalid value for '--depth'"),
    (["sweep", "run"], "actlab: error: Missing argument 'GRID'"),
])
def test_usage_errors_are_one_line(args, message):
    # click's own errors (unknown command or option, wrong type) follow the one-line rule too
    r = subprocess.run([sys.executable, "-m", "actlab", *args], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith(message) and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_file_system_errors_are_one_line(tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("")
    for args in (["plot", "relu", "--out", str(blocker / "x.png")],
                 ["diagnose", "--steps", "1", "--depth", "1", "--jsonl", str(blocker / "x.jsonl")]):
        r = subprocess.run([sys.executable, "-m", "actlab", *args], capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 2 and r.stderr.startswith("actlab: error: "), r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and "afile" in r.stderr, r.stderr


def test_bare_group_shows_its_help():
    r = subprocess.run([sys.executable, "-m", "actlab", "sweep"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "sweep [OPTIONS] COMMAND" in r.stdout and "table" in r.stdout
    assert r.stdout.count("Usage:") == 1  # printed once
    r = subprocess.run([sys.executable, "-m", "actlab", "list", "--help"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and "list [OPTIONS]" in r.stdout


def test_user_entry_listed_and_shown(runner, tmp_path):
    actlab.register("square_plus_cli", lambda x: 0.5 * (x + torch.sqrt(x * x + 4)), monotonic=True)
    try:
        out = _ok(runner.invoke(app, ["list"], env=WIDE))
        row = next(line.split() for line in out.splitlines() if line.strip().startswith("square_plus_cli"))
        assert row[1] == "(user)" and row[2:4] == ["(0,", "inf)*"]  # measured: starred
        assert row[8] == "yes"  # monotonic was declared: no star
        assert "measured numerically" in out
        out = _ok(runner.invoke(app, ["show", "square_plus_cli"], env=WIDE))
        assert "[user-registered]" in out and "(0, inf)*" in out
        _ok(runner.invoke(app, ["plot", "square_plus_cli", "--points", "101", "--out",
                                str(tmp_path / "sp.png")]))
        assert (tmp_path / "sp.png").exists()
    finally:
        actlab.unregister("square_plus_cli")


def test_help_shows_no_type_for_on_off_flags(runner):
    out = _ok(runner.invoke(app, ["report", "--help"]))
    assert "<bool>" not in out and "--quick" in out
    assert "<path>" in out  # options that take a value keep their type


def test_theory_names_the_depth_scale_it_used(runner):
    out = _ok(runner.invoke(app, ["theory", "relu", "--sigma-w2", "3"]))  # q unbounded: xi_c undefined
    assert "6 xi_grad" in out and "6 xi_c (Schoenholz" not in out
