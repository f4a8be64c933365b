"""actlab.data: offline datasets, deterministic stratified splits, train-only standardisation."""

from __future__ import annotations

import pytest
import torch

from actlab import data


@pytest.mark.parametrize("name", data.names())
def test_every_dataset_loads_deterministically(name: str) -> None:
    a, b = data.load(name, seed=3), data.load(name, seed=3)
    for f in ("x_train", "y_train", "x_test", "y_test"):
        assert torch.equal(getattr(a, f), getattr(b, f))
    assert a.x_train.dtype == torch.float32 and a.y_train.dtype == torch.int64
    assert a.x_train.shape[1] == a.n_features == a.x_test.shape[1]
    assert torch.isfinite(a.x_train).all() and torch.isfinite(a.x_test).all()
    assert set(a.y_train.unique().tolist()) == set(range(a.n_classes))
    n = len(a.y_train) + len(a.y_test)
    assert abs(len(a.y_test) / n - 0.25) < 0.02


@pytest.mark.parametrize("name", ["spirals", "digits"])
def test_seed_changes_the_split(name: str) -> None:
    assert not torch.equal(data.load(name, seed=0).y_train, data.load(name, seed=1).y_train)


def test_standardisation_uses_training_statistics_only() -> None:
    raw = data.load("breast_cancer", standardize=False, seed=0)
    ds = data.load("breast_cancer", seed=0)
    mean, std = raw.x_train.double().mean(0), raw.x_train.double().std(0, unbiased=False)
    torch.testing.assert_close(ds.x_train.double(), (raw.x_train.double() - mean) / std, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(ds.x_test.double(), (raw.x_test.double() - mean) / std, atol=1e-4, rtol=1e-4)
    assert ds.x_train.mean(0).abs().max() < 1e-5
    assert ds.x_test.mean(0).abs().max() > 1e-3  # the test split was not standardised on itself


def test_digits_are_the_bundled_images_with_constant_pixels_kept_finite() -> None:
    ds = data.load("digits", standardize=False)
    assert len(ds.y_train) + len(ds.y_test) == 1797 and ds.n_features == 64 and ds.n_classes == 10
    assert ds.image_shape == (1, 8, 8) and ds.x_train.max() == 16.0
    z = data.load("digits")
    assert torch.isfinite(z.x_train).all()
    assert (z.x_train[:, 0] == 0).all()  # the always-blank corner pixel stays 0, not NaN


def test_split_is_stratified() -> None:
    ds = data.load("digits", seed=0)
    frac = torch.bincount(ds.y_test, minlength=10).float() / torch.bincount(
        torch.cat([ds.y_train, ds.y_test]), minlength=10).float()
    assert (frac - 0.25).abs().max() < 0.02


def test_parity_is_exact_parity() -> None:
    ds = data.load("parity", standardize=False, bits=4)
    x = torch.cat([ds.x_train, ds.x_test])
    y = torch.cat([ds.y_train, ds.y_test])
    assert len(y) == 16 and torch.equal(((x > 0).sum(1) % 2), y)


def test_xor_labels_follow_the_signs() -> None:
    ds = data.load("xor", standardize=False, noise=0.0)
    x, y = ds.x_train, ds.y_train
    assert torch.equal(((x[:, 0] > 0) ^ (x[:, 1] > 0)).long(), y)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"name": "mnist"}, "unknown dataset 'mnist'; valid: xor"),
     ({"name": "xor", "test_fraction": 1.5}, "test_fraction"),
     ({"name": "xor", "seed": -1}, "seed"),
     ({"name": "xor", "bits": 3}, "unknown option 'bits'; valid: n, noise"),
     ({"name": "digits", "n": 3}, "takes no options")],
)
def test_bad_input_is_one_clear_error(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        data.load(**kwargs)
