"""``run_grid``: run the trials a store does not have yet, record each as it finishes.

    >>> from actlab.sweep import load_grid, run_grid
    >>> grid = load_grid("examples/tiny.toml")
    >>> results = run_grid(grid, store="tiny.sqlite")     # again: nothing left to run

Resume is by config hash: a trial whose hash is in the store (ok, diverged or failed) is not run
again (``retry_failed=True`` re-runs failed ones), so a sweep killed at any point - Ctrl-C, SIGKILL,
a crashed machine - continues where it stopped when run again, and trials shared by several grids
run once.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from actlab.sweep.backends import check_backend, default_workers, run_tasks
from actlab.sweep.config import TrialConfig
from actlab.sweep.ensemble import MAX_MEMBERS, plan
from actlab.sweep.grid import Grid
from actlab.sweep.store import Store
from actlab.sweep.trial import TrialResult

__all__ = ["run_grid"]


def run_grid(
    configs: Iterable[TrialConfig] | Grid | TrialConfig,
    store: str | os.PathLike[str] | Store | None = None,
    backend: str = "local",
    workers: int | None = None,
    progress: bool = True,
    ensemble: bool = True,
    *,
    address: str | None = None,
    retry_failed: bool = False,
    max_members: int = MAX_MEMBERS,
) -> list[TrialResult]:
    """Run every config not yet in ``store`` and return the results of all of them, in order.

    Args:
        configs: trial configs (or one), or a :class:`Grid` from :func:`load_grid`.
        store: the results store (path or :class:`Store`); default: the grid's store, or an
            in-memory one for a plain list.
        backend: ``"local"`` (process pool) or ``"ray"``.
        workers: parallel workers (default: the usable cores); 1 runs in this process.
        progress: show a progress bar (trials done/failed/diverged, ETA) on stderr.
        ensemble: train compatible MLP trials as vectorised ensembles.
        address: a Ray cluster to join (``backend="ray"``); default: a local loopback instance.
        retry_failed: run trials recorded as ``failed`` again.
        max_members: the largest ensemble.
    """
    check_backend(backend, workers, address)  # before the store is created
    if store is None:
        store = configs.store if isinstance(configs, Grid) else ":memory:"
    if isinstance(configs, TrialConfig):
        configs = [configs]
    unique: dict[str, TrialConfig] = {}
    order: list[str] = []
    for c in configs:
        if not isinstance(c, TrialConfig):
            hint = " (build it with TrialConfig.from_dict(d))" if isinstance(c, dict) else ""
            raise TypeError(f"run_grid expects TrialConfig objects, got {type(c).__name__}{hint}")
        order.append(c.hash)
        unique.setdefault(c.hash, c)
    st = store if isinstance(store, Store) else Store(store)
    try:
        skip = st.hashes(status=("ok", "diverged")) if retry_failed else st.hashes()
        pending = [c for h, c in unique.items() if h not in skip]
        n_workers = workers or default_workers()
        tasks = plan(pending, ensemble=ensemble, workers=n_workers, max_members=max_members)
        meta = {"backend": backend, "host": platform.node(), "actlab": _version()}
        with _Progress(len(unique), len(unique) - len(pending), st, enabled=progress) as bar:
            for _task, payload in run_tasks(tasks, backend=backend, workers=workers, address=address,
                                            ensemble=ensemble):
                results = [TrialResult.from_dict(d) for d in payload]
                st.put_many(results, meta)  # each trial whole, in one transaction
                bar.advance(results)
        return st.results(order)
    finally:
        if not isinstance(store, Store):
            st.close()


def _version() -> str:
    import actlab

    return actlab.__version__


class _Progress:
    """A Rich progress bar: done / total, ok / diverged / failed counts, elapsed and ETA."""

    def __init__(self, total: int, already: int, store: Store, enabled: bool) -> None:
        self.enabled = enabled and total > already
        self.total, self.already = total, already
        self.counts = {"ok": 0, "diverged": 0, "failed": 0}
        self.t0 = time.perf_counter()
        self._progress: Any = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("[bold]sweep"), BarColumn(), MofNCompleteColumn(), TextColumn("trials"),
                TextColumn("{task.fields[counts]}"), TimeElapsedColumn(), TextColumn("ETA"),
                TimeRemainingColumn(), console=Console(stderr=True), transient=False)
            self._progress.__enter__()
            self._task = self._progress.add_task("sweep", total=self.total, completed=self.already,
                                                 counts=self._text())
        return self

    def _text(self) -> str:
        c = self.counts
        skipped = f" [dim]{self.already} already in store[/dim]" if self.already else ""
        return (f"[green]{c['ok']} ok[/green] [yellow]{c['diverged']} diverged[/yellow] "
                f"[red]{c['failed']} failed[/red]{skipped}")

    def advance(self, results: list[TrialResult]) -> None:
        for r in results:
            self.counts[r.status] += 1
        if self._progress is not None:
            self._progress.update(self._task, advance=len(results), counts=self._text())

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)


def store_path_for(grid: Grid, store: str | os.PathLike[str] | None) -> Path:
    """The store a CLI run uses: ``--store`` when given, else the grid's (inside the output folder)."""
    return Path(store) if store is not None else grid.store
