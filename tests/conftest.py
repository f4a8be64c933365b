"""Shared test set-up.

Catalog tests parametrize over the catalog itself, so entries added by other packages (the noisy
units, through ``actlab.catalog.registry.add`` when ``import actlab`` imports them) are covered
without editing the tests:

* a test taking ``catalog_name`` runs once per built-in-style entry (``actlab.names()``, entries
  registered by users excluded);
* a test taking ``catalog_case`` runs once per (name, params): every entry at its defaults plus the
  non-default settings in ``EXTRA_CASES``.
"""

from __future__ import annotations

import math

import pytest

import actlab

#: Non-default parameter settings whose declared properties are checked like the defaults.
EXTRA_CASES: list[tuple[str, dict]] = [
    ("leaky_relu", {"negative_slope": 0.2}),
    ("leaky_relu", {"negative_slope": 0.0}),  # hard saturation on the left
    ("elu", {"alpha": 2.0}),  # a negative fixed point
    ("elu", {"alpha": 0.5}),
    ("elu", {"alpha": 1.6732632423543772}),  # SELU's alpha: zero-centred
    ("celu", {"alpha": 0.5}),
    ("hard_sigmoid", {"slope": 1.0 / 6.0}),  # PyTorch's
    ("hard_sigmoid", {"slope": 0.6}),  # thresholds off the grid, fixed point at 1
    ("hard_sigmoid", {"slope": 0.5}),  # tangent fixed point
    ("hard_tanh", {"min": 0.0, "max": 2.0}),
    ("hard_tanh", {"min": -0.3, "max": 1.0}),
    ("silu", {"beta": 2.0}),
    ("silu", {"beta": 0.5, "learnable": True}),
    ("softplus", {"beta": 2.0}),
    ("softplus", {"beta": 1.0, "threshold": 1.0}),  # the linear branch makes a visible jump
    ("gelu", {"approximate": "tanh"}),
    ("rrelu", {"lower": 0.1, "upper": 0.5}),
    ("rrelu", {"lower": 1.0, "upper": 1.0}),
    ("prelu", {"num_parameters": 3, "init": 0.1}),
    ("prelu", {"init": -0.5}),
    ("maxout", {"k": 3}),
    ("softmax", {"dim": 0}),
]


def builtin_names() -> list[str]:
    return [n for n in actlab.names() if not actlab.spec(n).user]


def catalog_cases() -> list[tuple[str, dict]]:
    names = builtin_names()
    return [(n, {}) for n in names] + [(n, p) for n, p in EXTRA_CASES if n in names]


def case_id(case: tuple[str, dict]) -> str:
    name, params = case
    if not params:
        return name
    def fmt(v: object) -> str:
        return f"{v:.4g}" if isinstance(v, float) and math.isfinite(v) else str(v)
    return name + "[" + ",".join(f"{k}={fmt(v)}" for k, v in params.items()) + "]"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "catalog_name" in metafunc.fixturenames:
        metafunc.parametrize("catalog_name", builtin_names())
    if "catalog_case" in metafunc.fixturenames:
        cases = catalog_cases()
        metafunc.parametrize("catalog_case", cases, ids=[case_id(c) for c in cases])


# -- helpers shared by the catalog tests (imported as ``from conftest import ...``) ----------------
def spec_params(name: str, params: dict | None = None) -> dict:
    """The resolved parameters of an entry (defaults overridden by ``params``)."""
    return actlab.spec(name).resolve(params or {})


def props(name: str, params: dict | None = None) -> actlab.Properties:
    return actlab.spec(name).properties(**(params or {}))


def away_from_kinks(x, name: str, params: dict | None = None, margin: float = 1e-3):
    """``x`` with every element within ``margin`` of a documented kink pushed off it."""
    import torch

    for k in props(name, params).kinks:
        close = (x - k).abs() < margin
        x = torch.where(close, x + 4 * margin * torch.sign(x - k + 1e-300), x)
    return x


def input_shape(name: str, params: dict | None = None) -> tuple[int, ...]:
    """A small input shape every entry accepts: per-channel PReLU needs dim 1 = its channels,
    maxout needs the last dim divisible by k (12 is, for k in 1, 2, 3, 4, 6, 12)."""
    p = spec_params(name, params)
    if p.get("num_parameters", 1) > 1:
        return (2, p["num_parameters"], 6)
    return (3, 12)


def sample_input(name: str, params: dict | None = None, shape=None, scale: float = 2.5,
                 seed: int = 0, dtype=None):
    """Random float64 input for an entry: N(0, scale^2), away from documented kinks (and, for
    entries that mix features, from ties: the values are distinct with probability 1)."""
    import torch

    shape = input_shape(name, params) if shape is None else shape
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g, dtype=torch.float64) * scale
    x = away_from_kinks(x, name, params)
    return x if dtype is None else x.to(dtype)


@pytest.fixture(scope="module")
def torch_single_thread():
    """One intra-op thread for modules of small-tensor tests: on a shared 2-core machine, two
    threads per op only wait for each other (3x slower under load, measured)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
