"""The embedded results store: one SQLite file in WAL mode, JSON in every column, no pickle.

Schema (``SCHEMA_VERSION`` 1)::

    trials(hash TEXT PRIMARY KEY, config TEXT, status TEXT, final TEXT, error TEXT,
           wall_s REAL, created REAL, meta TEXT)       -- one row per trial config hash
    epochs(hash TEXT, epoch INTEGER, metrics TEXT,     -- one row per evaluated epoch
           PRIMARY KEY (hash, epoch))

A trial is written in one transaction - its row and all its epoch rows, or nothing - so a sweep
killed at any instant (even by SIGKILL) leaves only whole trials, and re-running it skips them.
Opening a store only parses JSON: a store someone sent cannot run code.

    >>> store = Store("results.sqlite")
    >>> df = store.dataframe()                      # one row per trial, config + final metrics
    >>> curves = store.dataframe(epochs=True)        # one row per (trial, epoch)
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from actlab.sweep.config import TrialConfig
from actlab.sweep.trial import STATUSES, TrialResult

__all__ = ["SCHEMA_VERSION", "Store", "load_results"]

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS info (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trials (
    hash TEXT PRIMARY KEY,
    config TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'diverged', 'failed')),
    final TEXT NOT NULL,
    error TEXT,
    wall_s REAL NOT NULL,
    created REAL NOT NULL,
    meta TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS epochs (
    hash TEXT NOT NULL REFERENCES trials(hash) ON DELETE CASCADE,
    epoch INTEGER NOT NULL,
    metrics TEXT NOT NULL,
    PRIMARY KEY (hash, epoch)
);
"""


def _dumps(v: Any) -> str:
    return json.dumps(v, sort_keys=True, separators=(",", ":"), allow_nan=False)


class Store:
    """A results store at ``path`` (created on first write; ``":memory:"`` for a throwaway one).

    Args:
        path: the SQLite file.
        readonly: open an existing store without ever writing (``FileNotFoundError`` if absent).
    """

    def __init__(self, path: str | os.PathLike[str], readonly: bool = False) -> None:
        self.path = str(path)
        self.readonly = readonly
        memory = self.path == ":memory:"
        if not memory:
            p = Path(self.path)
            if readonly and not p.exists():
                raise FileNotFoundError(f"no results store at {self.path}")
            if p.exists() and p.is_dir():
                raise ValueError(f"store path {self.path} is a directory; valid: a .sqlite file path")
            if not readonly:
                p.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            if readonly:  # (not mode=ro: a read-only connection would leave the -wal/-shm files behind)
                self._conn.execute("PRAGMA query_only = ON")
            self._conn.execute("PRAGMA foreign_keys = ON")
            if not readonly:
                self._conn.execute("PRAGMA journal_mode = WAL")
                self._conn.execute("PRAGMA synchronous = FULL")
                self._conn.executescript(_SCHEMA)
                self._conn.execute("INSERT OR IGNORE INTO info VALUES ('schema_version', ?)",
                                   (str(SCHEMA_VERSION),))
            version = self._conn.execute(
                "SELECT value FROM info WHERE key = 'schema_version'").fetchone()
        except sqlite3.DatabaseError as e:
            raise ValueError(f"{self.path} is not an actlab results store ({e})") from None
        if version is None or int(version[0]) != SCHEMA_VERSION:
            raise ValueError(f"{self.path}: results store schema {version and version[0]!r} is not "
                             f"supported; valid: {SCHEMA_VERSION}")

    # -- writing ------------------------------------------------------------------------------
    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        if self.readonly:
            raise ValueError(f"results store {self.path} was opened read-only")
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def put(self, result: TrialResult, meta: dict[str, Any] | None = None) -> None:
        """Record one trial whole (its row and every epoch row) in one transaction, replacing an
        earlier record of the same hash."""
        self.put_many([result], meta)

    def put_many(self, results: Iterable[TrialResult], meta: dict[str, Any] | None = None) -> None:
        """Record several trials, each whole; all in one transaction."""
        with self._transaction() as c:
            for r in results:
                if r.status not in STATUSES:
                    raise ValueError(f"status {r.status!r} is invalid; valid: {', '.join(STATUSES)}")
                h = r.hash
                c.execute("DELETE FROM epochs WHERE hash = ?", (h,))
                c.execute("INSERT OR REPLACE INTO trials VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                          (h, r.config.to_json(), r.status, _dumps(r.final), r.error, float(r.wall_s),
                           time.time(), _dumps(meta or {})))
                c.executemany("INSERT INTO epochs VALUES (?, ?, ?)",
                              [(h, int(e["epoch"]), _dumps(e)) for e in r.epochs])

    def delete(self, hashes: Iterable[str]) -> int:
        """Remove trials (and their epochs); returns how many were removed."""
        with self._transaction() as c:
            n = 0
            for h in hashes:
                c.execute("DELETE FROM epochs WHERE hash = ?", (h,))
                n += c.execute("DELETE FROM trials WHERE hash = ?", (h,)).rowcount
        return n

    # -- reading ------------------------------------------------------------------------------
    def hashes(self, status: str | Iterable[str] | None = None) -> set[str]:
        """Hashes of the recorded trials (optionally only those with ``status``)."""
        sql, args = "SELECT hash FROM trials", ()
        if status is not None:
            st = (status,) if isinstance(status, str) else tuple(status)
            sql += f" WHERE status IN ({','.join('?' * len(st))})"
            args = st
        return {h for (h,) in self._conn.execute(sql, args)}

    def __contains__(self, item: str | TrialConfig) -> bool:
        h = item.hash if isinstance(item, TrialConfig) else item
        return self._conn.execute("SELECT 1 FROM trials WHERE hash = ?", (h,)).fetchone() is not None

    def __len__(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM trials").fetchone()[0])

    def counts(self) -> dict[str, int]:
        """Number of trials per status."""
        out = dict.fromkeys(STATUSES, 0)
        for s, n in self._conn.execute("SELECT status, COUNT(*) FROM trials GROUP BY status"):
            out[s] = n
        return out

    def results(self, hashes: Iterable[str] | None = None, status: str | None = None,
                epochs: bool = True) -> list[TrialResult]:
        """Recorded trials as :class:`TrialResult` (in the order of ``hashes`` when given, missing
        ones skipped; otherwise in recording order)."""
        cols = "hash, config, status, final, error, wall_s"
        if hashes is not None:
            wanted = list(hashes)
            rows: dict[str, tuple] = {}
            for i in range(0, len(wanted), 500):
                chunk = wanted[i:i + 500]
                for row in self._conn.execute(
                        f"SELECT {cols} FROM trials WHERE hash IN ({','.join('?' * len(chunk))})", chunk):
                    rows[row[0]] = row
            ordered = [rows[h] for h in wanted if h in rows]
        else:
            ordered = list(self._conn.execute(f"SELECT {cols} FROM trials ORDER BY created, hash"))
        if status is not None:
            ordered = [r for r in ordered if r[2] == status]
        out = []
        for h, config, st, final, error, wall in ordered:
            ep = [json.loads(m) for (m,) in self._conn.execute(
                "SELECT metrics FROM epochs WHERE hash = ? ORDER BY epoch", (h,))] if epochs else []
            out.append(TrialResult(TrialConfig.from_dict(json.loads(config)), st, ep, json.loads(final),
                                   error, wall))
        return out

    def get(self, item: str | TrialConfig) -> TrialResult | None:
        h = item.hash if isinstance(item, TrialConfig) else item
        r = self.results([h])
        return r[0] if r else None

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check``: ``"ok"`` for a sound file."""
        return str(self._conn.execute("PRAGMA integrity_check").fetchone()[0])

    def dataframe(self, epochs: bool = False, status: str | None = None) -> Any:
        """The trials as a ``pandas.DataFrame``.

        One row per trial: ``hash``, ``status``, every config field (``act_params`` as a dict
        column plus one ``act.<param>`` column per parameter; ``activation``: the name with its
        non-default parameters, e.g. ``leaky_relu(negative_slope=0.2)``), every final metric (``learned``
        as a dict column), ``wall_s`` and ``error``. With ``epochs=True``: one row per (trial,
        epoch), the config columns plus that epoch's metrics.
        """
        try:
            import pandas as pd
        except ImportError:  # pragma: no cover - pandas is a dependency
            raise ImportError("Store.dataframe needs pandas: pip install pandas") from None
        rows = []
        for r in self.results(status=status, epochs=epochs):
            base: dict[str, Any] = {"hash": r.hash, "status": r.status}
            cfg = r.config.to_dict()
            base.update(cfg)
            base["activation"] = r.config.activation()
            for k, v in r.config.act_params.items():
                base[f"act.{k}"] = v
            if epochs:
                for e in r.epochs:
                    rows.append({**base, **{k: v for k, v in e.items() if k != "layers"},
                                 "layers": e.get("layers")})
            else:
                base.update(r.final)
                base["wall_s"] = r.wall_s
                base["error"] = r.error
                rows.append(base)
        return pd.DataFrame(rows)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.path!r}, trials={len(self)})"


def load_results(path: str | os.PathLike[str], epochs: bool = False) -> Any:
    """A results store as a ``pandas.DataFrame`` (see :meth:`Store.dataframe`), opened read-only."""
    with Store(path, readonly=True) as s:
        return s.dataframe(epochs=epochs)
