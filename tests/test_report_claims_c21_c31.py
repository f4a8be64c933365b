"""Report claims C21..C31: each rule (decide) on hand-made numbers, each experiment (measure) at tiny
scale, and independent exact checks where the claim is exact."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.optimize import brentq

from actlab.report.claim import CONFIRMED, REFUTED, Context, Evidence
from actlab.report.claims import c21_fixed_points as c21


def tiny_ctx(tmp_path: Path) -> Context:
    return Context(tiny=True, quick=True, out=tmp_path, store=tmp_path / "s.sqlite", workers=1)


def check_evidence(ev: Evidence, keys: list[str]) -> dict[str, Any]:
    """Evidence has >= 1 PNG figure, JSON-able numbers with ``keys``; returns the numbers after the
    JSON round trip the runner makes."""
    assert ev.figures and all(f.png[:8] == b"\x89PNG\r\n\x1a\n" for f in ev.figures)
    assert all(f.caption for f in ev.figures)
    numbers = json.loads(json.dumps(ev.numbers, allow_nan=True))
    json.dumps(ev.setup)
    for k in keys:
        assert k in numbers, k
    return numbers


# -- C21 fixed points --------------------------------------------------------------------------------
def _c21_numbers(**parts: bool) -> dict[str, Any]:
    base = {k: True for k in ("hard_sigmoid_is_2_3", "sigmoid_about_0_69", "hard_tanh_all_of_unit_interval",
                              "tanh_only_0", "sigmoid_attracts", "tanh_attracts", "catalog_agrees")}
    base.update(parts)
    return {"parts": base, "sigmoid": {"fixed_point": 0.69}, "stated_tol": 0.005}


def test_c21_decide() -> None:
    assert c21.decide(_c21_numbers(), True).verdict == CONFIRMED
    v = c21.decide(_c21_numbers(sigmoid_about_0_69=False) | {"sigmoid": {"fixed_point": 0.659046}}, True)
    assert v.verdict == REFUTED and "0.659046" in v.reason
    assert c21.decide(_c21_numbers(tanh_attracts=False), False).verdict == REFUTED


def test_c21_measure_tiny(tmp_path: Path) -> None:
    n = check_evidence(c21.measure(tiny_ctx(tmp_path)), ["parts", "sigmoid", "stated_tol"])
    # independent solvers: closed form for hard-sigmoid, brentq for sigmoid
    assert n["hard_sigmoid"]["roots"] == [pytest.approx(2 / 3, abs=1e-15)]
    ref = brentq(lambda x: 1 / (1 + math.exp(-x)) - x, 0.0, 1.0, xtol=1e-15)
    assert n["sigmoid"]["roots"] == [pytest.approx(ref, abs=1e-12)]
    assert abs(ref - 0.69) > 0.005  # the stated value misses; the measured part must say so
    assert n["parts"]["sigmoid_about_0_69"] is False
    assert n["hard_tanh"]["roots"] == [] and n["parts"]["hard_tanh_all_of_unit_interval"]
    assert n["tanh"]["roots"] == [0.0]
    assert n["parts"]["sigmoid_attracts"] and n["parts"]["catalog_agrees"]


def test_c21_monotone_convergence_detects_oscillation() -> None:
    # x <- -x/2 + 0 converges but crosses 0 every step: not a monotone approach
    traj = np.array([[1.0], [-0.5], [0.25]])
    assert not c21._converges_monotonically(traj, 0.0)
    assert c21._converges_monotonically(np.array([[1.0, -1.0], [0.5, -0.5], [0.1, -0.2]]), 0.0)
