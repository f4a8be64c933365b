"""Small classification datasets shared by every experiment, all offline.

Synthetic problems are generated from a seeded NumPy RNG; the two real ones are scikit-learn's
bundled copies (no download ever):

=============  ========  ==========  =======  =====================================================
name           samples   features    classes  source
=============  ========  ==========  =======  =====================================================
xor            800       2           2        XOR of the signs of two uniform coordinates (+ noise)
spirals        800       2           2        two interleaved spirals (Lang & Witbrock 1988)
circles        800       2           2        two concentric noisy circles
moons          800       2           2        two interleaving half circles
parity         256       8           2        n-bit parity of {-1, +1} inputs (Minsky & Papert)
digits         1797      64 (8x8)    10       scikit-learn ``load_digits`` (UCI handwritten digits)
breast_cancer  569       30          2        scikit-learn ``load_breast_cancer`` (UCI WDBC)
=============  ========  ==========  =======  =====================================================

``load(name, seed=...)`` splits deterministically (stratified by class) and, by default,
standardises every feature with the mean and standard deviation of the *training* split only, so no
test statistic leaks into training. Constant features (digits' border pixels) get std 1.

    >>> ds = actlab.data.load("digits", seed=0)
    >>> ds.x_train.shape, ds.n_classes, ds.image_shape
    (torch.Size([1347, 64]), 10, (1, 8, 8))
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = ["Dataset", "load", "names"]


@dataclass(frozen=True)
class Dataset:
    """A train/test split as tensors: ``x`` float32 ``(n, n_features)``, ``y`` int64 class labels.

    ``mean``/``std`` are the training-split statistics used to standardise (``None`` when
    ``standardize=False``); ``image_shape`` is ``(channels, height, width)`` for image data.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_features: int
    n_classes: int
    image_shape: tuple[int, int, int] | None = None
    mean: torch.Tensor | None = None
    std: torch.Tensor | None = None

    def __repr__(self) -> str:
        return (f"Dataset({self.name!r}, train={len(self.y_train)}, test={len(self.y_test)}, "
                f"n_features={self.n_features}, n_classes={self.n_classes})")


Arrays = tuple[np.ndarray, np.ndarray]


def _xor(rng: np.random.Generator, n: int = 800, noise: float = 0.05) -> Arrays:
    x = rng.uniform(-1.0, 1.0, size=(n, 2))
    y = ((x[:, 0] > 0) ^ (x[:, 1] > 0)).astype(np.int64)
    return x + noise * rng.standard_normal(x.shape), y


def _spirals(rng: np.random.Generator, n: int = 800, noise: float = 0.05, turns: float = 1.5) -> Arrays:
    # Two spirals r = t, angle = 2*pi*turns*t, the second rotated by pi (Lang & Witbrock 1988):
    # far from linearly separable, a classic test of depth and of the activation's shape.
    half = n // 2
    t = np.sqrt(rng.uniform(0.0, 1.0, size=n))  # sqrt: uniform density over the disc's area
    angle = 2 * math.pi * turns * t
    cls = np.concatenate([np.zeros(half), np.ones(n - half)])
    angle = angle + math.pi * cls
    x = np.stack([t * np.cos(angle), t * np.sin(angle)], axis=1)
    return x + noise * rng.standard_normal(x.shape), cls.astype(np.int64)


def _circles(rng: np.random.Generator, n: int = 800, noise: float = 0.08, factor: float = 0.5) -> Arrays:
    half = n // 2
    angle = rng.uniform(0.0, 2 * math.pi, size=n)
    radius = np.concatenate([np.ones(half), np.full(n - half, factor)])
    x = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    y = np.concatenate([np.zeros(half), np.ones(n - half)]).astype(np.int64)
    return x + noise * rng.standard_normal(x.shape), y


def _moons(rng: np.random.Generator, n: int = 800, noise: float = 0.1) -> Arrays:
    half = n // 2
    a = rng.uniform(0.0, math.pi, size=half)
    b = rng.uniform(0.0, math.pi, size=n - half)
    upper = np.stack([np.cos(a), np.sin(a)], axis=1)
    lower = np.stack([1.0 - np.cos(b), 0.5 - np.sin(b)], axis=1)
    x = np.concatenate([upper, lower])
    y = np.concatenate([np.zeros(half), np.ones(n - half)]).astype(np.int64)
    return x + noise * rng.standard_normal(x.shape), y


def _parity(rng: np.random.Generator, bits: int = 8) -> Arrays:
    # Every one of the 2**bits inputs once (order shuffled by the split): a fixed, noise-free task.
    codes = np.arange(2**bits)
    b = (codes[:, None] >> np.arange(bits)[None, :]) & 1
    return (2.0 * b - 1.0), (b.sum(axis=1) % 2).astype(np.int64)


@functools.cache
def _sklearn(name: str) -> Arrays:
    try:
        from sklearn import datasets as skd
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(f"dataset {name!r} needs scikit-learn (its bundled copy, no download): "
                          "pip install scikit-learn") from e
    bunch = skd.load_digits() if name == "digits" else skd.load_breast_cancer()
    return np.asarray(bunch.data, dtype=np.float64), np.asarray(bunch.target, dtype=np.int64)


_SYNTHETIC: dict[str, Callable[..., Arrays]] = {
    "xor": _xor,
    "spirals": _spirals,
    "circles": _circles,
    "moons": _moons,
    "parity": _parity,
}
_IMAGE_SHAPES: dict[str, tuple[int, int, int]] = {"digits": (1, 8, 8)}
_NAMES = ("xor", "spirals", "circles", "moons", "parity", "digits", "breast_cancer")


def names() -> list[str]:
    """The dataset names :func:`load` accepts."""
    return list(_NAMES)


def _stratified_split(y: np.ndarray, test_fraction: float, rng: np.random.Generator) -> tuple[
        np.ndarray, np.ndarray]:
    train, test = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        k = round(test_fraction * len(idx))
        test.append(idx[:k])
        train.append(idx[k:])
    # Shuffle across classes so that no consumer sees class-sorted data.
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def load(
    name: str,
    standardize: bool = True,
    seed: int = 0,
    test_fraction: float = 0.25,
    **options: Any,
) -> Dataset:
    """Load a dataset as a deterministic, stratified train/test split.

    Args:
        name: one of :func:`names`.
        standardize: z-score every feature with the training split's mean and std.
        seed: seeds the synthetic generator and the split; equal seeds give equal tensors.
        test_fraction: fraction of each class held out, in (0, 1).
        **options: generator options of the synthetic sets (``n``, ``noise``; ``turns`` for
            spirals, ``factor`` for circles, ``bits`` for parity).
    """
    if not isinstance(name, str) or name.strip().lower() not in _NAMES:
        raise ValueError(f"unknown dataset {name!r}; valid: {', '.join(_NAMES)}")
    name = name.strip().lower()
    if not (isinstance(test_fraction, (int, float)) and 0.0 < test_fraction < 1.0):
        raise ValueError(f"test_fraction={test_fraction!r} is invalid; valid: a number in (0, 1)")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed={seed!r} is invalid; valid: an integer >= 0")
    # Separate streams for generation and split, both fixed by the seed.
    gen_rng, split_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    if name in _SYNTHETIC:
        fn = _SYNTHETIC[name]
        import inspect

        valid = [p for p in inspect.signature(fn).parameters if p != "rng"]
        bad = sorted(set(options) - set(valid))
        if bad:
            raise ValueError(f"dataset {name!r}: unknown option {bad[0]!r}; valid: {', '.join(valid)}")
        x, y = fn(gen_rng, **options)
    else:
        if options:
            raise ValueError(f"dataset {name!r} takes no options (got {sorted(options)[0]!r})")
        x, y = _sklearn(name)
    tr, te = _stratified_split(y, float(test_fraction), split_rng)
    x_tr, x_te = x[tr], x[te]
    mean = std = None
    if standardize:
        m = x_tr.mean(axis=0)
        s = x_tr.std(axis=0)
        s = np.where(s > 1e-12, s, 1.0)  # constant features stay constant (0) instead of NaN
        x_tr, x_te = (x_tr - m) / s, (x_te - m) / s
        mean, std = torch.tensor(m, dtype=torch.float32), torch.tensor(s, dtype=torch.float32)
    return Dataset(
        name=name,
        x_train=torch.tensor(x_tr, dtype=torch.float32),
        y_train=torch.tensor(y[tr], dtype=torch.int64),
        x_test=torch.tensor(x_te, dtype=torch.float32),
        y_test=torch.tensor(y[te], dtype=torch.int64),
        n_features=int(x.shape[1]),
        n_classes=int(y.max()) + 1,
        image_shape=_IMAGE_SHAPES.get(name),
        mean=mean,
        std=std,
    )
