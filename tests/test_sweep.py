"""actlab.sweep: configs and hashes, grid validation, the store, trials, vectorised ensembles,
resume after SIGKILL, the local and Ray backends, and the CLI."""

from __future__ import annotations

import inspect
import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import actlab
from actlab.sweep import (
    ConfigError,
    Store,
    TrialConfig,
    TrialResult,
    ensemble,
    load_grid,
    load_results,
    run_grid,
)
from actlab.sweep.ensemble import group_key, plan, run_ensemble
from actlab.sweep.grid import parse_grid
from actlab.sweep.trial import run_trial

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# -- configs -------------------------------------------------------------------------------------
def test_hash_is_canonical_and_stable() -> None:
    a = TrialConfig(act="swish", lr=1)
    b = TrialConfig(act="silu", act_params={"beta": 1.0, "learnable": False}, lr=1.0)
    assert a == b and a.hash == b.hash and a.act == "silu"
    assert TrialConfig(seed=1).hash != TrialConfig(seed=0).hash
    assert TrialConfig.from_dict(json.loads(a.to_json())) == a
    # Pinned: changing a default or the canonical form must be deliberate (TRAINER_VERSION).
    assert TrialConfig().hash == _expected_default_hash()


def _expected_default_hash() -> str:
    import hashlib

    from actlab.sweep.config import TRAINER_VERSION

    canonical = json.dumps(TrialConfig().to_dict(), sort_keys=True, separators=(",", ":"))
    assert '"act":"relu"' in canonical and '"lr":0.01' in canonical
    return hashlib.sha256(f"actlab-trial-v{TRAINER_VERSION}:{canonical}".encode()).hexdigest()[:16]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"width": -4}, r"^width: -4 is invalid; valid: an integer >= 1"),
     ({"act": "relu7"}, r"^act: unknown activation 'relu7'"),
     ({"act": "elu", "act_params": {"alpha": -1.0}}, r"^act_params: elu: parameter alpha"),
     ({"act": "relu", "act_params": {"slope": 1}}, r"^act_params: relu: unknown parameter 'slope'"),
     ({"optimizer": "lbfgs"}, r"^optimizer: 'lbfgs' is invalid; valid: sgd, momentum, adam, adagrad"),
     ({"init": "xavier_normal", "sigma_w2": 2.0}, r"^sigma_w2: sets the 'sigma' init"),
     ({"dataset": "mnist"}, r"^dataset: 'mnist' is invalid; valid: xor"),
     ({"model": "cnn", "dataset": "moons"}, r"^model: 'cnn' needs image data"),
     ({"lr": 0}, r"^lr: 0 is invalid"),
     ({"act": {"negative_slope": 0.2}}, r"^act: \{'negative_slope': 0.2\} has no 'name'"),
     ({"act": {"name": "elu", "alpha": 0.5}, "act_params": {"alpha": 1.0}}, r"^act: parameters given twice"),
     ({"act": {"name": "elu"}, "act_params": None}, r"^act_params: None is invalid")],
)
def test_invalid_configs_name_the_key(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        TrialConfig(**kwargs)
    with pytest.raises(ConfigError, match=r"^dept: unknown key \(did you mean 'depth'\?\)"):
        TrialConfig.from_dict({"dept": 3})


def test_unknown_keyword_names_the_closest_key() -> None:
    # the constructor and replace() as from_dict: not Python's bare "unexpected keyword argument"
    with pytest.raises(ConfigError, match=r"^widht: unknown key \(did you mean 'width'\?\); valid: act, "):
        TrialConfig(widht=8)
    with pytest.raises(ConfigError, match=r"^epoch: unknown key \(did you mean 'epochs'\?\)"):
        TrialConfig().replace(epoch=3)
    assert TrialConfig(width=8).replace(epochs=3) == TrialConfig(width=8, epochs=3)
    with pytest.raises(ConfigError, match=r"^self: unknown key"):
        TrialConfig.from_dict({"self": 1})  # a grid table may hold any key
    with pytest.raises(ConfigError, match=r"^1: a key must be a string"):
        TrialConfig.from_dict({1: 2})
    assert "width" in inspect.signature(TrialConfig).parameters  # IDEs still see the fields


def test_run_grid_takes_one_config_and_explains_a_dict() -> None:
    (r,) = run_grid(TrialConfig(dataset="xor", depth=1, width=8, epochs=1), progress=False)
    assert r.status == "ok"
    with pytest.raises(TypeError, match=r"got dict \(build it with TrialConfig.from_dict"):
        run_grid([{"depth": 1}], progress=False)


def test_act_config_dict_is_split_like_actlab_get() -> None:
    as_dict = TrialConfig(act={"name": "LeakyReLU", "negative_slope": 0.2})
    assert (as_dict.act, as_dict.act_params) == ("leaky_relu", {"negative_slope": 0.2})
    assert as_dict.hash == TrialConfig(act="leaky_relu", act_params={"negative_slope": 0.2}).hash
    # serialize() of an in-place module: the flag changes no result, the trial is the same
    assert TrialConfig(act=actlab.serialize(torch.nn.ReLU(inplace=True))).hash == TrialConfig().hash


# -- grids ---------------------------------------------------------------------------------------
GRID = """
[sweep]
name = "g"
store = "results/g.sqlite"

[base]
dataset = "moons"
epochs = 2
width = 8

[grid]
act = ["relu", { name = "leaky_relu", negative_slope = 0.2 }]
depth = [1, 2]
seed = [0, 1, 0]
"""


def test_grid_file_expands_validates_and_deduplicates(tmp_path: Path) -> None:
    f = tmp_path / "g.toml"
    f.write_text(GRID)
    g = load_grid(f, out_dir=tmp_path)
    assert len(g) == 2 * 2 * 2  # the repeated seed is one trial
    assert g.store == (tmp_path / "results" / "g.sqlite").resolve()
    leaky = [c for c in g if c.act == "leaky_relu"]
    assert leaky and all(c.act_params == {"negative_slope": 0.2} for c in leaky)
    assert set(g.varying()) == {"act", "act_params", "depth", "seed"}
    union = parse_grid({"base": {"dataset": "xor", "epochs": 1},
                        "grid": [{"act": ["relu"], "depth": [1, 2]},
                                 {"act": ["tanh"], "init": ["sigma"], "sigma_w2": [1.0, 2.0]}]}, tmp_path)
    assert [(c.act, c.depth, c.sigma_w2) for c in union] == [("relu", 1, None), ("relu", 2, None),
                                                             ("tanh", 2, 1.0), ("tanh", 2, 2.0)]


@pytest.mark.parametrize(
    ("doc", "match"),
    [({"grid": {"act": ["relu", "relu7"]}}, r"act: unknown activation 'relu7'"),
     ({"grid": {"width": [8, -1]}}, r"width: -1 is invalid"),
     ({"grid": {"dept": [1, 2]}}, r"\[grid\] dept: unknown key \(did you mean 'depth'\?\)"),
     ({"base": {"lr": 0.1, "optimiser": "adam"}},
      r"\[base\] optimiser: unknown key \(did you mean 'optimizer'"),
     ({"grids": {"depth": [1]}}, r"grids: unknown key \(did you mean 'grid'\?\)"),
     ({"sweep": {"stor": "x.sqlite"}}, r"\[sweep\] stor: unknown key"),
     ({"grid": {"depth": 3}}, r"\[grid\] depth: 3 is invalid; valid: a non-empty list"),
     ({"grid": {"init": ["xavier_normal"], "sigma_w2": [1.0]}}, r"sigma_w2: sets the 'sigma' init"),
     ({"grid": {"act": [{"negative_slope": 0.2}]}}, r"act: .* has no 'name'"),
     ({"sweep": {"store": "../escape.sqlite"}}, r"store: '../escape.sqlite' leaves the output folder"),
     ({"sweep": {"store": "/tmp/abs.sqlite"}}, r"store: '/tmp/abs.sqlite' is absolute")],
)
def test_invalid_grids_are_rejected_before_anything_runs(tmp_path: Path, doc: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_grid(doc, tmp_path, source="bad.toml")
    assert list(tmp_path.iterdir()) == []  # nothing was created


def test_store_path_cannot_escape_through_a_symlink(tmp_path: Path) -> None:
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "link").symlink_to(elsewhere)
    with pytest.raises(ConfigError, match="leaves the output folder"):
        parse_grid({"sweep": {"store": "link/s.sqlite"}, "grid": {"depth": [1]}}, out)


def test_a_grid_file_is_data_only(tmp_path: Path) -> None:
    f = tmp_path / "g.toml"
    f.write_text('[base]\nact = "__import__(\'os\').system(\'touch pwned\')"\n[grid]\ndepth = [1]\n')
    with pytest.raises(ConfigError, match="unknown activation"):
        load_grid(f, tmp_path)
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()
    (tmp_path / "g.yaml").write_text("grid: {}")
    with pytest.raises(ConfigError, match=r"unsupported grid format '.yaml'; valid: .toml"):
        load_grid(tmp_path / "g.yaml")


# -- store ---------------------------------------------------------------------------------------
def _fake_result(seed: int, status: str = "ok", epochs: int = 2) -> TrialResult:
    c = TrialConfig(dataset="xor", seed=seed)
    eps = [{"epoch": e, "test_acc": 0.5 + 0.1 * e, "train_loss": 1.0 / (e + 1)} for e in range(epochs + 1)]
    final = {"test_acc": eps[-1]["test_acc"], "learned": {"1.weight": 0.25}} if status == "ok" else {}
    error = "Traceback ...\nValueError: x" if status == "failed" else None
    return TrialResult(c, status, eps, final, error, 1.5)


def test_store_round_trip_wal_and_dataframe(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with Store(path) as st:
        st.put(_fake_result(0))
        st.put_many([_fake_result(1, "diverged"), _fake_result(2, "failed")])
        st.put(_fake_result(0))  # re-recording replaces, never duplicates
        assert len(st) == 3 and st.counts() == {"ok": 1, "diverged": 1, "failed": 1}
        r = st.get(TrialConfig(dataset="xor", seed=0))
        assert r is not None and r.final["learned"] == {"1.weight": 0.25} and len(r.epochs) == 3
        assert st.integrity_check() == "ok"
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT COUNT(*) FROM epochs").fetchone()[0] == 9
    types = {row[2] for t in ("trials", "epochs") for row in conn.execute(f"PRAGMA table_info({t})")}
    assert "BLOB" not in types  # JSON text and numbers only: no pickle anywhere
    conn.close()
    df = load_results(path)
    assert set(df["status"]) == {"ok", "diverged", "failed"}
    assert {"hash", "act", "depth", "seed", "test_acc", "activation", "error"} <= set(df.columns)
    curves = load_results(path, epochs=True)
    assert len(curves) == 9 and "epoch" in curves.columns


def test_a_trial_is_recorded_whole_or_not_at_all(tmp_path: Path) -> None:
    bad = _fake_result(5)
    bad.epochs.append({"epoch": 3, "test_acc": math.nan})  # not JSON: the write fails midway
    with Store(tmp_path / "s.sqlite") as st:
        st.put(_fake_result(1))
        with pytest.raises(ValueError):
            st.put_many([_fake_result(4), bad])
        assert st.hashes() == {_fake_result(1).hash}
        assert st._conn.execute("SELECT COUNT(*) FROM epochs").fetchone()[0] == 3


def test_store_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no results store at"):
        Store(tmp_path / "missing.sqlite", readonly=True)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(ValueError, match="is not an actlab results store"):
        Store(junk)
    with Store(tmp_path / "s.sqlite") as st:
        st.put(_fake_result(0))
    with Store(tmp_path / "s.sqlite", readonly=True) as ro, pytest.raises(ValueError, match="read-only"):
        ro.put(_fake_result(1))


# -- trials --------------------------------------------------------------------------------------
def test_trial_records_curves_and_learned_parameters() -> None:
    r = run_trial(TrialConfig(dataset="moons", act="prelu", depth=2, width=8, epochs=3, optimizer="adam",
                              lr=0.02, batch_size=32))
    assert r.status == "ok", r.error
    assert [e["epoch"] for e in r.epochs] == [0, 1, 2, 3]
    assert r.final["test_acc"] > 0.75 and r.final["steps"] == 3 * math.ceil(600 / 32)
    assert set(r.final["learned"]) == {"1.weight", "3.weight"}
    assert r.final["learned"]["1.weight"] != 0.25  # trained away from its init
    again = run_trial(r.config)
    assert again.final["test_loss"] == r.final["test_loss"]  # same seed, same numbers


def test_diverged_and_failing_trials_are_recorded_and_the_sweep_goes_on(tmp_path: Path) -> None:
    configs = [TrialConfig(dataset="xor", depth=1, width=4, epochs=2),
               TrialConfig(dataset="xor", depth=6, width=16, epochs=2, lr=1e4, init="kaiming_normal",
                           optimizer="momentum"),
               # BatchNorm1d cannot train on batches of one sample: this trial raises
               TrialConfig(dataset="xor", depth=1, width=4, norm="batch", batch_size=1, epochs=1),
               TrialConfig(dataset="xor", depth=1, width=4, epochs=2, seed=1)]
    results = run_grid(configs, store=tmp_path / "s.sqlite", workers=1, progress=False)
    assert [r.status for r in results] == ["ok", "diverged", "failed", "ok"]
    assert results[1].final["diverged_step"] >= 0 and "diverged_epoch" in results[1].final
    assert "Expected more than 1 value per channel" in results[2].error
    assert "Traceback" in results[2].error
    with Store(tmp_path / "s.sqlite") as st:
        assert st.counts() == {"ok": 2, "diverged": 1, "failed": 1}


@pytest.mark.parametrize(
    "config",
    [TrialConfig(dataset="digits", model="cnn", depth=2, width=4, epochs=1, act="prelu",
                 act_params={"num_parameters": 4}, norm="batch"),
     TrialConfig(dataset="parity", model="gru", depth=1, width=8, epochs=1, act="hard_tanh",
                 gate_act="hard_sigmoid", optimizer="adam", lr=0.01),
     TrialConfig(dataset="digits", model="lstm", depth=1, width=8, epochs=1, init="orthogonal")],
    ids=["cnn", "gru-parity", "lstm-digit-rows"],
)
def test_cnn_and_recurrent_trials_run(config: TrialConfig) -> None:
    r = run_trial(config)
    assert r.status == "ok", r.error
    assert 0.0 <= r.final["test_acc"] <= 1.0 and r.final["steps"] > 0
    assert group_key(config) is None  # run one by one


def test_watch_records_per_layer_statistics() -> None:
    pytest.importorskip("actlab.watch")
    r = run_trial(TrialConfig(dataset="digits", depth=8, width=16, act="sigmoid", epochs=1, watch=True))
    assert r.status == "ok", r.error
    assert "layers" not in r.epochs[0]  # nothing trained yet at epoch 0
    layers = r.epochs[-1]["layers"]
    acts = [row for row in layers if row["activation"] == "sigmoid"]
    assert len(acts) == 8 and all(0.0 <= row["dead_fraction"] <= 1.0 for row in acts)
    grads = [row["grad_norm"] for row in acts]
    assert grads[0] < grads[-1]  # gradients shrink towards the input of a deep sigmoid net
    assert "vanishing" in r.final["watch_verdicts"]


# -- vectorised ensembles --------------------------------------------------------------------------
def _assert_same(a: TrialResult, b: TrialResult, tol: float = 2e-4) -> None:
    assert a.status == b.status, (a.config.label(), a.error, b.error)
    assert [e["epoch"] for e in a.epochs] == [e["epoch"] for e in b.epochs]
    for k in ("test_loss", "train_loss", "test_acc", "train_acc", "steps", "diverged_step"):
        if k in a.final or k in b.final:
            assert a.final[k] == pytest.approx(b.final[k], abs=tol), (k, a.config.label())
    for k, v in b.final.get("learned", {}).items():
        assert a.final["learned"][k] == pytest.approx(v, abs=tol)


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam", "adagrad"])
def test_ensemble_equals_one_by_one_runs(optimizer: str) -> None:
    lr = 0.003 if optimizer == "adam" else 0.05
    base = TrialConfig(dataset="digits", depth=2, width=16, epochs=2, optimizer=optimizer, lr=lr)
    configs = [base,
               base.replace(seed=1, lr=lr / 2, init="kaiming_normal", weight_decay=1e-3),
               base.replace(seed=2, act="tanh", init="xavier_uniform", l1=1e-4),
               base.replace(seed=3, act="leaky_relu", act_params={"negative_slope": 0.2}, bias_init=0.1),
               base.replace(seed=4, init="sigma", sigma_w2=2.0, sigma_b2=0.05, momentum=0.5)]
    assert len({group_key(c) for c in configs}) == 1
    for a, b in zip(run_ensemble(configs), [run_trial(c) for c in configs]):
        _assert_same(a, b)
        assert a.final["ensemble_size"] == 5


@pytest.mark.parametrize(
    "variant",
    [{"norm": "layer"}, {"norm": "batch"}, {"act": "prelu"},
     {"act": "prelu", "act_params": {"num_parameters": 16}},
     {"act": "silu", "act_params": {"learnable": True}}, {"act": "maxout", "act_params": {"k": 3}}],
    ids=["layernorm", "batchnorm", "prelu", "prelu-per-unit", "swish-beta", "maxout"],
)
def test_ensemble_equals_one_by_one_for_norms_and_learnable_activations(variant: dict) -> None:
    # Not Adam with BatchNorm: the gradient of a Linear bias followed by BatchNorm is 0 up to
    # rounding, and Adam turns that rounding noise into steps of size lr, so two summation orders
    # part ways within an epoch (SGD moves such a bias by lr * noise: nothing).
    opt = {"optimizer": "momentum", "lr": 0.02} if variant.get("norm") == "batch" else {
        "optimizer": "adam", "lr": 0.003}
    base = TrialConfig(dataset="digits", depth=2, width=16, epochs=2, **opt, **variant)
    configs = [base, base.replace(seed=1, lr=base.lr * 3), base.replace(seed=2, init="lecun_normal")]
    for a, b in zip(run_ensemble(configs), [run_trial(c) for c in configs]):
        _assert_same(a, b, tol=1e-3)


def test_ensemble_of_plain_relu_sgd_members_equals_one_by_one() -> None:
    # all members relu + SGD: the hand-written backward with in-place relu and the SGD step fused
    # into it (the mixed-activation test above does not take that path for every layer)
    base = TrialConfig(dataset="digits", depth=3, width=16, epochs=2, optimizer="sgd", lr=0.05)
    configs = [base.replace(seed=s, lr=0.05 * (1 + s)) for s in range(4)]
    for a, b in zip(run_ensemble(configs), [run_trial(c) for c in configs]):
        _assert_same(a, b)


@pytest.mark.parametrize("optimizer", ["momentum", "sgd"])
def test_ensemble_records_divergence_like_one_by_one_and_spares_the_others(optimizer: str) -> None:
    base = TrialConfig(dataset="digits", depth=5, width=16, epochs=2, optimizer=optimizer,
                       init="kaiming_normal", lr=0.05)
    configs = [base, base.replace(lr=1e3), base.replace(lr=0.02, seed=1)]
    ens, alone = run_ensemble(configs), [run_trial(c) for c in configs]
    assert [r.status for r in ens] == ["ok", "diverged", "ok"]
    # bmm and mm sum in different orders; two epochs of momentum on a deep relu net amplify that float32
    # rounding to ~1e-3, so the tolerance is looser here than in the one-by-one equality test above.
    for a, b in zip(ens, alone):
        _assert_same(a, b, tol=1e-2)


def test_ensemble_diverging_member_raises_no_numpy_warning() -> None:
    base = TrialConfig(dataset="digits", depth=3, width=16, epochs=1, optimizer="sgd", lr=0.05)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy warns on overflow in matmul unless told not to
        results = run_ensemble([base, base.replace(lr=1e4, init="sigma", sigma_w2=50.0)])
    assert [r.status for r in results] == ["ok", "diverged"]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_ensemble_batched_product_matches_torch_bmm(dtype: torch.dtype) -> None:
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(5, 7, 6, generator=g, dtype=dtype), torch.randn(5, 6, 4, generator=g, dtype=dtype)
    tol = {"rtol": 1e-5, "atol": 1e-5} if dtype == torch.float32 else {}
    expected = torch.bmm(a, b)
    torch.testing.assert_close(ensemble._bmm(a, b), expected, **tol)
    torch.testing.assert_close(ensemble._bmm(a[0], b), torch.bmm(a[0].expand(5, 7, 6), b), **tol)  # shared a
    at = a.transpose(1, 2).contiguous().transpose(1, 2)  # a transposed: numpy's fast case too
    out = torch.empty(5, 7, 4, dtype=dtype)
    assert ensemble._bmm(at, b, out=out) is out
    torch.testing.assert_close(out, expected, **tol)
    bt = b.transpose(1, 2).contiguous().transpose(1, 2)  # b transposed: torch.bmm
    torch.testing.assert_close(ensemble._bmm(a, bt), expected, **tol)


def test_ensemble_same_results_with_numpy_or_torch_products(monkeypatch: pytest.MonkeyPatch) -> None:
    base = TrialConfig(dataset="digits", depth=3, width=16, epochs=2, optimizer="sgd", lr=0.05)
    configs = [base.replace(seed=s, act=act) for s, act in enumerate(("relu", "tanh", "relu"))]
    with_numpy = run_ensemble(configs)
    monkeypatch.setattr(ensemble, "NUMPY_MATMUL", False)
    for a, b in zip(with_numpy, run_ensemble(configs)):
        _assert_same(a, b)


def test_ensemble_numpy_blas_uses_torch_thread_count(monkeypatch: pytest.MonkeyPatch) -> None:
    from threadpoolctl import threadpool_info

    seen: list[int] = []
    monkeypatch.setattr(ensemble, "_train", lambda configs: seen.extend(
        p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"))
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run_ensemble([TrialConfig(depth=2), TrialConfig(depth=2, seed=1)])
    finally:
        torch.set_num_threads(previous)
    assert seen and set(seen) == {1}


def test_plan_groups_compatible_trials_and_keeps_the_rest_alone() -> None:
    mlps = [TrialConfig(depth=2, act=a, seed=s) for a in ("relu", "tanh") for s in range(3)]
    other = [TrialConfig(model="cnn", depth=1), TrialConfig(act="rrelu"), TrialConfig(depth=3)]
    tasks = plan(mlps + other, workers=2)
    assert sorted(len(t) for t in tasks) == [1, 1, 1, 3, 3]  # 6 MLPs split to feed 2 workers
    assert group_key(TrialConfig(act="rrelu")) is None and group_key(TrialConfig(model="cnn")) is None
    assert all(len(t) == 1 for t in plan(mlps, ensemble=False))


# -- resume after SIGKILL ------------------------------------------------------------------------
KILL_GRID = """
[sweep]
name = "killme"
[base]
dataset = "digits"
width = 16
epochs = 3
batch_size = 32
optimizer = "momentum"
[grid]
act = ["relu", "tanh"]
depth = [1, 2, 3, 4, 5, 6]
seed = [0, 1]
"""


def _sweep_cmd(grid: Path, store: Path, *extra: str) -> list[str]:
    return [sys.executable, "-c", "from actlab.cli import main; main()", "sweep", "run", str(grid),
            "--store", str(store), "--workers", "2", "--no-progress", *extra]


def _table(store: Path) -> list[str]:
    from actlab.sweep.analysis import format_cell, summarize

    s = summarize(load_results(store), ["act"], ["depth"], "test_acc")
    return [format_cell(s.cell(r, c), precision=6) for r in s.row_keys() for c in s.col_keys()]


def _app():
    from actlab.cli import app

    return app


def test_sigkill_mid_sweep_then_resume_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    grid = tmp_path / "kill.toml"
    grid.write_text(KILL_GRID)
    store = tmp_path / "killed.sqlite"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(_sweep_cmd(grid, store), env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    recorded, deadline = 0, time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if store.exists():
            try:
                with Store(store, readonly=True) as st:
                    recorded = len(st)
            except (ValueError, sqlite3.Error):
                recorded = 0
            if recorded > 0:
                break
        time.sleep(0.05)
    assert proc.poll() is None, "the sweep finished before it could be killed: " + proc.stderr.read().decode()
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and its workers, mid-sweep
    proc.wait()
    with Store(store, readonly=True) as st:
        before = {r.hash: r for r in st.results()}
        assert st.integrity_check() == "ok"
        created_before = dict(st._conn.execute("SELECT hash, created FROM trials"))
    assert 0 < len(before) < 24
    resumed = subprocess.run(_sweep_cmd(grid, store), env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{len(before)} already in" in resumed.stderr
    conn = sqlite3.connect(store)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT COUNT(*), COUNT(DISTINCT hash) FROM trials").fetchone() == (24, 24)
    assert conn.execute("SELECT COUNT(*) FROM epochs").fetchone()[0] == 24 * 4
    created = dict(conn.execute("SELECT hash, created FROM trials"))
    conn.close()
    assert all(created[h] == t for h, t in created_before.items())  # not run again after the kill
    fresh = tmp_path / "fresh.sqlite"  # the same grid, uninterrupted (same backend and workers)
    run_grid(load_grid(grid, tmp_path), store=fresh, workers=2, progress=False)
    assert _table(store) == _table(fresh)
    a, b = load_results(store).set_index("hash"), load_results(fresh).set_index("hash")
    assert (a.loc[b.index, "test_loss"] - b["test_loss"]).abs().max() < 1e-6


# -- backends ------------------------------------------------------------------------------------
def _small_grid() -> list[TrialConfig]:
    base = TrialConfig(dataset="moons", width=8, epochs=2, batch_size=64)
    grid = [base.replace(act=a, depth=d, seed=s) for a in ("relu", "tanh") for d in (1, 2) for s in (0, 1)]
    return [*grid, base.replace(act="rrelu", depth=1)]


def test_local_pool_equals_in_process_run(tmp_path: Path) -> None:
    configs = _small_grid()
    inline = run_grid(configs, store=tmp_path / "a.sqlite", workers=1, progress=False)
    pooled = run_grid(configs, store=tmp_path / "b.sqlite", workers=2, progress=False)
    assert [r.hash for r in pooled] == [c.hash for c in configs]
    for a, b in zip(inline, pooled):
        assert a.status == b.status == "ok"
        assert a.final["test_loss"] == pytest.approx(b.final["test_loss"], abs=1e-6)
    again = run_grid(configs, store=tmp_path / "b.sqlite", workers=2, progress=False)  # all skipped
    assert [r.final for r in again] == [r.final for r in pooled]


def _listening(pids: set[int]) -> list[str]:
    """Local addresses of the TCP sockets in LISTEN state owned by ``pids``."""
    inodes = set()
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
        except OSError:
            continue
    out = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            if cols[3] == "0A" and cols[9] in inodes:  # 0A: LISTEN
                out.append(_decode_address(cols[1].split(":")[0]))
    return out


def _decode_address(hexaddr: str) -> str:
    import ipaddress

    raw = bytes.fromhex(hexaddr)
    if len(raw) == 4:
        return str(ipaddress.IPv4Address(raw[::-1]))
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
    addr = ipaddress.IPv6Address(words)
    return str(addr.ipv4_mapped or addr)


def _descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                ppid = int(Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d))
    out, todo = set(), [root]
    while todo:
        p = todo.pop()
        for c in children.get(p, []):
            if c not in out:
                out.add(c)
                todo.append(c)
    return out


@pytest.mark.slow
def test_ray_backend_on_a_loopback_local_instance_equals_local(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    from actlab.sweep import backends

    configs = _small_grid()
    local = run_grid(configs, store=tmp_path / "local.sqlite", workers=2, progress=False)
    seen: list[str] = []
    real_execute = backends.run_tasks

    def spy(*args, **kwargs):
        for item in real_execute(*args, **kwargs):
            seen.extend(_listening(_descendants(os.getpid()) | {os.getpid()}))
            seen.append("node:" + ray.nodes()[0]["NodeManagerAddress"])
            yield item

    import actlab.sweep.runner as runner

    runner.run_tasks, saved = spy, runner.run_tasks
    try:
        remote = run_grid(configs, store=tmp_path / "ray.sqlite", backend="ray", workers=2, progress=False)
    finally:
        runner.run_tasks = saved
    assert not ray.is_initialized()  # the instance it started is shut down
    for a, b in zip(local, remote):
        assert a.hash == b.hash and a.status == b.status == "ok"
        assert a.final["test_loss"] == pytest.approx(b.final["test_loss"], abs=1e-6)
        for ea, eb in zip(a.epochs, b.epochs, strict=True):
            assert {k: pytest.approx(v, abs=1e-6) for k, v in ea.items() if k != "wall_s"} == {
                k: v for k, v in eb.items() if k != "wall_s"}
    assert "node:127.0.0.1" in seen
    addresses = [s for s in seen if not s.startswith("node:")]
    assert addresses, "no Ray listening socket found"
    assert all(a.startswith("127.") or a == "::1" for a in addresses), addresses


def test_bad_backend_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown backend 'spark'; valid: local, ray"):
        run_grid([TrialConfig()], store=tmp_path / "s.sqlite", backend="spark", progress=False)
    assert not (tmp_path / "s.sqlite").exists()  # rejected before the store is created
    grid = str(ROOT / "examples" / "tiny.toml")
    res = CliRunner().invoke(_app(), ["sweep", "run", grid, "--out", str(tmp_path), "--backend", "spark"])
    assert isinstance(res.exception, ValueError) and "unknown backend 'spark'" in str(res.exception)
    assert res.output == ""  # nothing printed before the error (main() prints it as one line)
    assert not list(tmp_path.iterdir())
    with pytest.raises(ValueError, match="--address is for the ray backend"):
        run_grid([TrialConfig(epochs=1, depth=0, dataset="xor")], address="10.0.0.1:6379", progress=False)


# -- CLI -----------------------------------------------------------------------------------------
def test_cli_run_status_table_plot(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(_app(), ["sweep", "run", str(ROOT / "examples" / "tiny.toml"), "--out", str(tmp_path),
                                 "--workers", "1", "--no-progress"])
    assert res.exit_code == 0, res.output
    store = tmp_path / "tiny.sqlite"
    assert store.exists()
    res = runner.invoke(_app(), ["sweep", "table", str(ROOT / "examples" / "tiny.toml"), "--out",
                                 str(tmp_path), "--rows", "act", "--cols", "depth"])
    assert res.exit_code == 0, res.output
    assert "relu" in res.output and "tanh" in res.output and "±" in res.output
    res = runner.invoke(_app(), ["sweep", "status", str(store)])
    assert res.exit_code == 0 and "integrity: ok" in res.output
    png = tmp_path / "p.png"
    res = runner.invoke(_app(), ["sweep", "plot", str(store), "--x", "depth", "--hue", "act", "-o", str(png)])
    assert res.exit_code == 0, res.output
    assert png.stat().st_size > 1000
    res = runner.invoke(_app(), ["sweep", "plot", str(ROOT / "examples" / "tiny.toml"), "--out", str(png)])
    assert res.exit_code == 2 and "write the image with -o/--output" in res.output
    res = runner.invoke(_app(), ["sweep", "table", str(store), "--rows", "act", "--cols", "", "--where",
                                 "depth=4", "--metric", "test_acc"])
    assert res.exit_code == 0 and "±" in res.output


def test_plot_lines_joins_points_in_x_order_and_names_what_it_pools() -> None:
    import matplotlib
    import pandas as pd
    from matplotlib.collections import PathCollection

    from actlab.sweep.analysis import plot_lines

    matplotlib.use("Agg")
    depths = [10, 2, 20, 30, 5]  # store order; pandas hands them out as numpy int64
    df = pd.DataFrame([{"act": a, "depth": d, "seed": s, "init": i, "status": "ok", "test_acc": d / 100}
                       for a in ("relu", "tanh") for d in depths for s in (0, 1)
                       for i in ("default", "orthogonal")])
    ax = plot_lines(df, "depth", "test_acc", hue="act")
    for line in ax.get_lines():
        assert list(line.get_xdata()) == sorted(depths)
    assert ax.get_ylabel() == "test_acc (mean ± std over seeds, init)"
    ax = plot_lines(df[df["init"] == "default"], "depth", "test_acc", hue="act")
    assert ax.get_ylabel() == "test_acc (mean ± std over seeds)"
    assert not [c for c in ax.collections if isinstance(c, PathCollection)]  # bands only, no x marks
    # a point whose trials all diverged has no mean: marked with an x, explained in the legend
    lost = df["init"].eq("default") & df["act"].eq("tanh") & df["depth"].isin([20, 30])
    df.loc[lost, "status"] = "diverged"
    ax = plot_lines(df[df["init"] == "default"], "depth", "test_acc", hue="act")
    (marks,) = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert sorted(marks.get_offsets()[:, 0]) == [20, 30]
    assert "no trial ok (diverged/failed)" in [t.get_text() for t in ax.get_legend().get_texts()]
    # some trials of a point lost: the point says how many of its trials its mean covers
    df.loc[df["init"].eq("default") & df["act"].eq("relu") & df["depth"].eq(5) & df["seed"].eq(0),
           "status"] = "diverged"
    ax = plot_lines(df[df["init"] == "default"], "depth", "test_acc", hue="act")
    assert "1/2 ok" in [t.get_text() for t in ax.texts]


def test_cli_rejects_an_invalid_grid_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(textwrap.dedent("""
        [base]
        dataset = "digits"
        [grid]
        act = ["relu", "tanhh"]
    """))
    cmd = [sys.executable, "-c", "from actlab.cli import main; main()", "sweep", "run", str(bad), "--out",
           str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "act: unknown activation 'tanhh'" in lines[0] and "did you mean" in lines[0]
    assert not (tmp_path / "bad.sqlite").exists()


def test_example_grids_are_valid(tmp_path: Path) -> None:
    g = load_grid(ROOT / "examples" / "depth_vs_activation.toml", tmp_path)
    assert len(g) == 6 * 5 * 3 * 3 and {c.dataset for c in g} == {"digits"}
    assert max(c.depth for c in g) == 30 and len(plan(list(g), workers=2)) >= 2


def test_where_matching_nothing_names_the_condition_and_the_values_there() -> None:
    import pandas as pd

    from actlab.sweep.analysis import summarize

    df = pd.DataFrame([{"act": a, "depth": d, "seed": 0, "status": "ok", "test_acc": 0.5}
                       for a in ("relu", "tanh") for d in (2, 4)])
    with pytest.raises(ValueError, match=r"^no results match --where act=relux; act has: relu, tanh$"):
        summarize(df, ["act"], where={"act": "relux"})
    with pytest.raises(ValueError, match=r"--where depth=3; depth has: 2, 4$"):
        summarize(df, ["act"], where={"act": "relu", "depth": "3"})
