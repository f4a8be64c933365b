"""The benchmarks in benchmarks/ still run (tiny sizes, no timing asserted: the ratios they print
are read by people, on a quiet machine). A benchmark that breaks silently is a figure nobody can
reproduce."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"

CASES = {
    "bench_catalog.py": (["--n", "4096", "--reps", "1", "--min-time", "0", "--only", "relu", "gelu"],
                         r"^relu\s+\d"),
    "bench_noisy.py": (["--n", "65536", "--reps", "1", "--no-compile"], r"^goal: fused, eager \d"),
    "bench_ensemble.py": (["--members", "2", "--epochs", "1", "--depth", "1", "--width", "8"],
                          r"^ensemble\s+\d"),
    "bench_watch.py": (["--model", "relu", "--rounds", "1"], r"^MLP 8x512 ReLU.*goals <= 1.05x"),
}


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(CASES))
def test_benchmark_runs_and_prints_its_result(script: str) -> None:
    args, expected = CASES[script]
    done = subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert re.search(expected, done.stdout, re.MULTILINE), done.stdout[-2000:]  # a result row
