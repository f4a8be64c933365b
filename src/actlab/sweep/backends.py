"""Where tasks run: in this process, in a local process pool, or on Ray.

Every backend takes tasks (lists of configs from :func:`actlab.sweep.ensemble.plan`), runs them
with :func:`execute` and yields each task's results to the driver as it finishes; only the driver
writes the store. Configs travel as JSON dicts and results come back as JSON dicts, so a remote
worker needs nothing but ``actlab`` installed.

* ``local``: ``workers`` processes (default: the usable cores), one torch thread each so that the
  workers do not oversubscribe the cores; ``workers=1`` runs in this process.
* ``ray``: ``ray.init(address=...)`` when an address is given, else a local Ray instance whose
  every listening socket is on the loopback interface (Ray's single-machine mode, the one it uses
  on macOS and Windows), without the dashboard. Tasks ask for one CPU each; Ray is an optional
  extra (``pip install actlab[ray]``), imported only here.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

from actlab.sweep.config import TrialConfig

__all__ = ["BACKENDS", "default_workers", "execute", "run_tasks"]

BACKENDS = ("local", "ray")

Task = list[TrialConfig]
Payload = list[dict[str, Any]]


def default_workers() -> int:
    """The cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def execute(task: Payload, ensemble: bool = True, threads: int | None = 1) -> Payload:
    """Run one task (config dicts) and return its results as dicts: the unit of work of every
    backend. ``threads``: torch intra-op threads for the duration (1: no oversubscription)."""
    import torch

    from actlab.sweep.ensemble import run_task

    configs = [TrialConfig.from_dict(d) for d in task]
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return [r.to_dict() for r in run_task(configs, ensemble=ensemble)]
    finally:
        torch.set_num_threads(previous)


def _init_worker() -> None:
    import torch

    from actlab.sweep._malloc import tune_malloc

    torch.set_num_threads(1)
    tune_malloc()


def check_backend(backend: str, workers: int | None = None, address: str | None = None) -> None:
    """Raise ``ValueError`` naming the problem for a backend, worker count or address that cannot run."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; valid: {', '.join(BACKENDS)}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers={workers!r} is invalid; valid: an integer >= 1")
    if address is not None and backend != "ray":
        raise ValueError("--address is for the ray backend; valid: --backend ray --address HOST:PORT")


def run_tasks(tasks: Sequence[Task], backend: str = "local", workers: int | None = None,
              address: str | None = None, ensemble: bool = True) -> Iterator[tuple[Task, Payload]]:
    """Run tasks on a backend; yield ``(task, results)`` as each finishes (any order)."""
    check_backend(backend, workers, address)
    if backend == "ray":
        yield from _run_ray(tasks, workers, address, ensemble)
        return
    n = workers or default_workers()
    payloads = [[c.to_dict() for c in t] for t in tasks]
    if n == 1 or len(tasks) <= 1:
        for t, p in zip(tasks, payloads):
            yield t, execute(p, ensemble)
        return
    # fork keeps user-registered activations and is what DataLoader workers use; workers never
    # run multi-threaded torch code (set_num_threads(1) first), so forking after torch is safe.
    ctx = mp.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    pool = ProcessPoolExecutor(max_workers=min(n, len(tasks)), mp_context=ctx, initializer=_init_worker)
    try:
        pending: dict[Future[Payload], Task] = {
            pool.submit(execute, p, ensemble): t for t, p in zip(tasks, payloads)}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                t = pending.pop(f)
                yield t, f.result()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _import_ray() -> Any:
    # Ray's single-machine mode: every server on the loopback interface. The constant is read
    # when Ray is imported, so set the variable first (and the attribute if Ray is imported).
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
    except ImportError:
        raise ImportError("backend 'ray' needs Ray: pip install 'actlab[ray]'") from None
    return ray


def _run_ray(tasks: Sequence[Task], workers: int | None, address: str | None,
             ensemble: bool) -> Iterator[tuple[Task, Payload]]:
    ray = _import_ray()
    started = False
    if not ray.is_initialized():
        if address:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
        else:
            from ray._private import ray_constants

            ray_constants.ENABLE_RAY_CLUSTER = False  # loopback only, even if Ray was imported before
            ray.init(num_cpus=workers or default_workers(), include_dashboard=False, log_to_driver=False,
                     configure_logging=False)
        started = True
    try:
        remote = ray.remote(num_cpus=1, max_retries=0)(_ray_execute)
        refs = {remote.remote([c.to_dict() for c in t], ensemble): t for t in tasks}
        while refs:
            done, _ = ray.wait(list(refs), num_returns=1)
            for ref in done:
                t = refs.pop(ref)
                yield t, ray.get(ref)
    finally:
        if started:
            ray.shutdown()


def _ray_execute(task: Payload, ensemble: bool) -> Payload:
    _init_worker()
    return execute(task, ensemble)
