"""actlab.sweep: grids of training runs on an embedded results store.

* :class:`TrialConfig` - one run (model, activation, init, optimizer, data, seed), with a stable
  hash; :func:`run_trial` -> :class:`TrialResult` (status ok / diverged / failed, per-epoch metrics).
* :func:`load_grid` - a TOML grid file -> validated configs; :func:`run_grid` - run what a
  :class:`Store` does not have yet, locally (process pool) or on Ray, as vectorised ensembles.
* :class:`Store` / :func:`load_results` - the SQLite results, as ``TrialResult`` or a DataFrame.

    >>> from actlab.sweep import TrialConfig, run_grid, load_results
    >>> configs = [TrialConfig(dataset="moons", act=a, depth=3, seed=s, epochs=5)
    ...            for a in ("relu", "tanh") for s in range(3)]
    >>> results = run_grid(configs, store="moons.sqlite")
    >>> load_results("moons.sqlite").groupby("act").test_acc.agg(["mean", "std"])
"""

from actlab.sweep.config import TRAINER_VERSION, ConfigError, TrialConfig
from actlab.sweep.grid import Grid, load_grid, parse_grid
from actlab.sweep.runner import run_grid
from actlab.sweep.store import Store, load_results
from actlab.sweep.trial import TrialResult, run_trial

__all__ = [
    "TRAINER_VERSION",
    "ConfigError",
    "Grid",
    "Store",
    "TrialConfig",
    "TrialResult",
    "load_grid",
    "load_results",
    "parse_grid",
    "run_grid",
    "run_trial",
]
