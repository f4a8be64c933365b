"""Summaries of a results DataFrame: mean +- std over seeds in a rows x cols table, and line plots.

    >>> df = load_results("depth_vs_activation.sqlite")
    >>> s = summarize(df, rows=["act"], cols=["depth"], metric="test_acc", where={"init": "kaiming_normal"})
    >>> s.pooled          # config fields that vary inside a cell besides the seed (should be empty)

A cell's mean and std (sample std, ddof=1) are over its ``ok`` trials; diverged and failed trials
are counted separately and never silently averaged in.
"""

from __future__ import annotations

import json
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from actlab.sweep.config import TrialConfig

__all__ = ["Summary", "format_cell", "plot_lines", "summarize"]

_CONFIG_FIELDS = tuple(f.name for f in fields(TrialConfig))


@dataclass
class Summary:
    """``table``: one row per cell (the ``rows`` and ``cols`` fields, then ``mean``, ``std``, ``n``,
    ``n_ok``, ``n_diverged``, ``n_failed``); ``pooled``: fields that vary within cells besides
    ``over`` (with their values) - averaging over them is usually a mistake."""

    table: Any
    rows: list[str]
    cols: list[str]
    metric: str
    pooled: dict[str, list[Any]] = field(default_factory=dict)

    def row_keys(self) -> list[tuple]:
        return _ordered_keys(self.table, self.rows)

    def col_keys(self) -> list[tuple]:
        return _ordered_keys(self.table, self.cols)

    def cell(self, row: tuple, col: tuple) -> dict[str, Any] | None:
        t = self.table
        mask = None
        for k, v in zip(self.rows + self.cols, row + col):
            m = t[k] == v
            mask = m if mask is None else mask & m
        sub = t[mask] if mask is not None else t
        return None if sub.empty else sub.iloc[0].to_dict()


def _hashable(v: Any) -> Any:
    return json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else v


def _is_number(v: Any) -> bool:
    """Python and numpy ints and floats (pandas hands out numpy scalars), not bools."""
    return isinstance(v, numbers.Real) and not isinstance(v, bool)  # numpy's bool_ is not a Real


def _sort_key(v: Any) -> tuple:
    if v is None:
        return (2, "")
    if _is_number(v):
        return (0, float(v), "")
    return (1, 0.0, str(v))


def _ordered_keys(table: Any, keys: list[str]) -> list[tuple]:
    if not keys:
        return [()]
    seen = list(dict.fromkeys(tuple(r) for r in table[keys].itertuples(index=False, name=None)))
    return sorted(seen, key=lambda t: tuple(_sort_key(v) for v in t))


def apply_where(df: Any, where: Mapping[str, Any] | None) -> Any:
    """Rows of ``df`` whose columns equal the given values (strings are compared as text, so
    ``{"depth": "10"}`` from a command line matches 10)."""
    for k, v in (where or {}).items():
        if k not in df.columns:
            raise ValueError(f"--where {k}: unknown column; valid: {', '.join(map(str, df.columns))}")
        col = df[k]
        df = df[col.map(lambda x, v=v: _matches(x, v))] if isinstance(v, str) else df[col == v]
    return df


def _where_or_explain(df: Any, where: Mapping[str, Any] | None) -> Any:
    """:func:`apply_where`; when nothing is left, say which condition emptied it and what its column
    holds there."""
    out = apply_where(df, where)
    if not out.empty:
        return out
    part = df
    for k, v in (where or {}).items():
        left = apply_where(part, {k: v})
        if left.empty:
            have = ", ".join(sorted({str(x) for x in part[k]}))
            raise ValueError(f"no results match --where {k}={v}; {k} has: {have}")
        part = left
    raise ValueError("no results match --where")  # pragma: no cover - some condition emptied it


def _matches(x: Any, v: str) -> bool:
    if isinstance(x, bool) or type(x).__name__ in ("bool_", "bool"):  # numpy 1.x / 2.x bools
        return str(x).lower() == v.lower()
    if _is_number(x):
        try:
            return float(x) == float(v)
        except ValueError:
            return False
    return str(x) == v


def summarize(df: Any, rows: Sequence[str], cols: Sequence[str] = (), metric: str = "test_acc",
              where: Mapping[str, Any] | None = None, over: str = "seed") -> Summary:
    """Mean +- std of ``metric`` over ``over`` (the seed) for every rows x cols cell."""
    import pandas as pd

    rows, cols = list(rows), list(cols)
    if df.empty:
        raise ValueError("no results to summarise (the store is empty or nothing matches --where)")
    for k in rows + cols:
        if k not in df.columns:
            raise ValueError(f"unknown column {k!r}; valid: {', '.join(map(str, df.columns))}")
    df = _where_or_explain(df, where)
    if metric not in df.columns:
        numeric = [c for c in df.columns if pd.api.types.is_numeric_dtype(df[c]) and c not in _CONFIG_FIELDS]
        raise ValueError(f"unknown metric {metric!r}; valid: {', '.join(numeric)}")
    keys = rows + cols
    df = df.copy()
    for k in keys:
        df[k] = df[k].map(_hashable)
    pooled: dict[str, list[Any]] = {}
    for f in _CONFIG_FIELDS:
        if f in keys or f == over or f not in df.columns:
            continue
        vals = df[f].map(_hashable)
        per_cell = vals.groupby([df[k] for k in keys], dropna=False).nunique() if keys else vals.nunique()
        if (per_cell > 1).any() if keys else per_cell > 1:
            pooled[f] = list(dict.fromkeys(vals))
    out = []
    groups = df.groupby(keys, dropna=False, sort=False) if keys else [((), df)]
    for key, g in groups:
        key = key if isinstance(key, tuple) else (key,)
        ok = g[g["status"] == "ok"][metric].astype(float)
        out.append({**dict(zip(keys, key)), "mean": ok.mean() if len(ok) else float("nan"),
                    "std": ok.std(ddof=1) if len(ok) > 1 else float("nan"), "n": len(g), "n_ok": len(ok),
                    "n_diverged": int((g["status"] == "diverged").sum()),
                    "n_failed": int((g["status"] == "failed").sum())})
    return Summary(pd.DataFrame(out), rows, cols, metric, pooled)


def format_cell(cell: Mapping[str, Any] | None, precision: int = 3) -> str:
    """``0.912 ± 0.013`` (+ ``3/3 div`` / ``1 failed`` notes); ``-`` for an empty cell."""
    import math

    if cell is None:
        return "-"
    parts = []
    if cell["n_ok"]:
        m, s = cell["mean"], cell["std"]
        parts.append(f"{m:.{precision}f}" + ("" if math.isnan(s) else f" ± {s:.{precision}f}"))
    if cell["n_diverged"]:
        parts.append(f"{cell['n_diverged']}/{cell['n']} div")
    if cell["n_failed"]:
        parts.append(f"{cell['n_failed']}/{cell['n']} failed")
    return " ".join(parts) if parts else "-"


def plot_lines(df: Any, x: str, y: str, hue: str | None = None, where: Mapping[str, Any] | None = None,
               ax: Any = None, logx: bool = False) -> Any:
    """Mean of ``y`` against ``x`` with a ±1 std band over seeds (within [0, 1] for accuracies), one
    line per ``hue`` value. A point none of whose trials ended ``ok`` (all diverged or failed) has no
    mean: it is marked with an ``x`` at the bottom of the axes in its line's colour; a point some of
    whose trials did not end ``ok`` is labelled ``k/n ok``."""
    import matplotlib
    from matplotlib.lines import Line2D
    from matplotlib.transforms import blended_transform_factory

    if ax is None:
        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(6.4, 4.2))
    s = summarize(df, [hue] if hue else [], [x], y, where)
    any_lost = False
    for row in s.row_keys():
        sub = s.table
        for k, v in zip(s.rows, row):
            sub = sub[sub[k] == v]
        sub = sub.iloc[sorted(range(len(sub)), key=lambda i: _sort_key(sub[x].iloc[i]))]
        label = str(row[0]) if row else y
        (line,) = ax.plot(sub[x], sub["mean"], marker="o", label=label)
        band = sub["std"].fillna(0)
        lo, hi = sub["mean"] - band, sub["mean"] + band
        if "acc" in y:  # an accuracy's band stays within [0, 1]
            lo, hi = lo.clip(lower=0.0), hi.clip(upper=1.0)
        ax.fill_between(sub[x], lo, hi, alpha=0.2)
        # a mean over fewer trials than the point has (the others diverged or failed) says so
        for xv, m, n_ok, n in zip(sub[x], sub["mean"], sub["n_ok"], sub["n"]):
            if 0 < n_ok < n:
                ax.annotate(f"{n_ok}/{n} ok", (xv, m), xytext=(4, 4), textcoords="offset points", fontsize=7,
                            color=line.get_color())
        lost = sub[(sub["n_ok"] == 0) & (sub["n"] > 0)]
        if len(lost):
            ax.scatter(lost[x], [0.03] * len(lost), marker="x", color=line.get_color(), zorder=3,
                       transform=blended_transform_factory(ax.transData, ax.transAxes), clip_on=False)
            any_lost = True
    ax.set_xlabel(x)
    over = ", ".join(["seeds", *s.pooled])  # what a point averages; pooled settings are named
    ax.set_ylabel(f"{y} (mean ± std over {over})")
    if logx:
        ax.set_xscale("log")
    if hue or any_lost:
        handles, _ = ax.get_legend_handles_labels()
        if any_lost:
            handles.append(Line2D([], [], marker="x", color="0.4", linestyle="",
                                  label="no trial ok (diverged/failed)"))
        ax.legend(handles=handles, title=hue, fontsize="small")
    ax.grid(alpha=0.3)
    return ax
