"""Run the report: discover the claim modules, run each claim's experiment (or take its cached
evidence), apply its rule, and write ``results.json`` and ``index.html``.

* Discovery: every module of :mod:`actlab.report.claims` whose name does not start with ``_`` is
  imported and its ``CLAIM`` / ``CLAIMS`` collected. A module that fails to import becomes an
  ``error`` entry for the claim ids in its name (``c21_c22_fixed_points.py`` -> C21, C22), so one
  broken module does not stop the report.
* Order: the ledger's order; claims whose ids are not in the ledger (``T1``.. - theory
  verifications) follow in a separate section. An id that looks like a ledger id (``C..``) but is
  not in the ledger is an error: add the claim to ``ledger.md`` first.
* Cache: each claim's :class:`~actlab.report.claim.Evidence` is stored as JSON (figures as PNG files)
  in ``OUT/.cache``, keyed by (claim id, ``claim.version``, mode, actlab version, a hash of the claim
  module's source and of the private ``_*.py`` helpers of the claims package). A re-run measures only
  the claims whose key changed; an interrupted run resumes. Trainings are cached a second time, per
  trial, in the sweep store ``OUT/store.sqlite`` (``Context.train``).
* Verdicts: ``claim.decide(numbers, quick)`` is called on every run, on the cached or fresh numbers
  (fresh numbers are first put through the same JSON round trip, so ``decide`` sees identical input
  either way). A claim whose ``measure`` or ``decide`` raises gets an ``error`` entry with the
  traceback; the others still run.
* Missing claims: a ledger claim with no module is reported as ``not tested yet`` - never as a
  verdict. :attr:`Report.complete` is false then (and when a claim errored), and the CLI exits non-zero.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import importlib
import json
import math
import os
import pkgutil
import platform
import random
import re
import sys
import time
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from actlab._io import atomic_write
from actlab.report.claim import VERDICTS, Claim, Context, Evidence, Figure, Table
from actlab.report.ledger import LedgerClaim, load_ledger

__all__ = ["ERROR", "NOT_TESTED", "Entry", "EvidenceCache", "Report", "ReportError", "discover",
           "run_report", "source_hash", "write_json"]

ERROR = "error"
NOT_TESTED = "not tested yet"
CLAIMS_PACKAGE = "actlab.report.claims"
#: Expected seconds of a claim never timed before (only used to weight the progress bar / ETA).
_DEFAULT_SECONDS = {"tiny": 1.0, "quick": 5.0, "full": 35.0}
_LEDGER_LIKE = re.compile(r"^C\d+$")


class ReportError(ValueError):
    """A bad request (unknown claim id, duplicate claim definitions); the message is one line."""


@dataclass
class Entry:
    """One claim's outcome in the report.

    ``status``: ``"verdict"`` (``verdict`` is one of :data:`~actlab.report.claim.VERDICTS`),
    ``"error"`` (``error`` holds the traceback) or ``"not tested yet"`` (no experiment exists).
    ``section``: ``"ledger"`` or ``"theory"`` (ids not in the ledger).
    """

    id: str
    text: str
    sources: tuple[str, ...] = ()
    section: str = "ledger"
    title: str = ""
    status: str = NOT_TESTED
    verdict: str | None = None
    reason: str = ""
    rule: str = ""
    numbers: dict[str, Any] = field(default_factory=dict)
    setup: dict[str, Any] = field(default_factory=dict)
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    notes: str = ""
    error: str = ""
    warnings: list[str] = field(default_factory=list)
    module: str = ""
    version: int | None = None
    quick: bool = True
    cached: bool = False
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """What the report's badge says: the verdict, ``error`` or ``not tested yet``."""
        return self.verdict if self.status == "verdict" and self.verdict else self.status


@dataclass
class Report:
    """The outcome of a run: ``meta`` (versions, date, mode, times) and one :class:`Entry` per claim."""

    meta: dict[str, Any]
    entries: list[Entry]

    @property
    def missing(self) -> list[str]:
        """Ledger claims of this run that have no experiment yet."""
        return [e.id for e in self.entries if e.status == NOT_TESTED]

    @property
    def errors(self) -> list[str]:
        return [e.id for e in self.entries if e.status == ERROR]

    @property
    def complete(self) -> bool:
        """Every claim of this run got a verdict."""
        return not self.missing and not self.errors

    def as_dict(self) -> dict[str, Any]:
        """``results.json``'s content (strict JSON: NaN -> null, +-inf -> "inf"/"-inf")."""
        claims = []
        for e in self.entries:
            d = {k: v for k, v in asdict(e).items() if k not in ("figures", "tables")}
            d["sources"] = list(e.sources)
            d["tables"] = [{"columns": t.columns, "rows": t.rows, "caption": t.caption} for t in e.tables]
            d["figures"] = [{"file": f"figures/{e.id}-{i + 1}.png", "caption": f.caption, "alt": f.alt}
                            for i, f in enumerate(e.figures)]
            claims.append(d)
        return _strict({"meta": self.meta, "claims": claims})


# -- discovery ------------------------------------------------------------------------------------
def _ids_in_name(module: str) -> list[str]:
    """``c21_c22_fixed_points`` -> ["C21", "C22"]; ``t1_theory`` -> ["T1"]."""
    return [m.upper() for m in re.findall(r"(?:^|_)([ct]\d+)(?=_|$)", module.rsplit(".", 1)[-1])]


def discover(package: str = CLAIMS_PACKAGE) -> tuple[list[Claim], dict[str, str]]:
    """The claims defined in ``package``'s modules, and ``{claim id: traceback}`` for modules that
    failed to import (ids taken from the module name; ``"?module"`` when the name has none).

    Raises :class:`ReportError` when two modules define the same claim id.
    """
    pkg = importlib.import_module(package)
    claims: list[Claim] = []
    where: dict[str, str] = {}
    failures: dict[str, str] = {}
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        name = f"{package}.{info.name}"
        try:
            module = importlib.import_module(name)
            found = _claims_of(module)
        except Exception:
            tb = traceback.format_exc()
            for cid in _ids_in_name(name) or [f"?{info.name}"]:
                failures[cid] = f"importing {name} failed:\n{tb}"
            continue
        for c in found:
            if c.id in where:
                raise ReportError(f"claim {c.id} is defined twice: in {where[c.id]} and {name}")
            where[c.id] = name
            claims.append(c)
    return claims, failures


def _claims_of(module: Any) -> list[Claim]:
    found: list[Any] = []
    if hasattr(module, "CLAIM"):
        found.append(module.CLAIM)
    if hasattr(module, "CLAIMS"):
        found.extend(module.CLAIMS)
    for c in found:
        if not isinstance(c, Claim):
            raise TypeError(f"{module.__name__}: CLAIM/CLAIMS must hold actlab.report.claim.Claim objects, "
                            f"got {type(c).__name__}")
    return found


def source_hash(claim: Claim) -> str:
    """A hash of the source of the module that defines ``claim.measure`` - plus, for modules of the
    claims package, its private helper modules (``_*.py``), which claims may share."""
    h = hashlib.sha256()
    mod_name = getattr(claim.measure, "__module__", None) or ""
    files: list[Path] = []
    module = sys.modules.get(mod_name)
    if module is not None and getattr(module, "__file__", None):
        files.append(Path(module.__file__))  # type: ignore[arg-type]
    if mod_name.startswith(CLAIMS_PACKAGE + "."):
        pkg = importlib.import_module(CLAIMS_PACKAGE)
        for d in pkg.__path__:
            files.extend(sorted(Path(d).glob("_*.py")))
    for f in files:
        h.update(f.name.encode())
        with contextlib.suppress(OSError):
            h.update(f.read_bytes())
    if not files:  # defined interactively: the best we have is its name
        h.update(f"{mod_name}:{getattr(claim.measure, '__qualname__', '')}".encode())
    return h.hexdigest()[:16]


# -- JSON -----------------------------------------------------------------------------------------
def _json_default(obj: Any) -> Any:
    """numpy scalars/arrays and torch tensors -> Python values; anything else is a claim bug."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON-able; use floats, ints, str, bools, lists, dicts")


def _plain(obj: Any, what: str) -> Any:
    """``obj`` after the JSON round trip the cache makes (tuples -> lists, keys -> str, numpy ->
    Python), so that ``decide`` sees the same input whether the evidence is fresh or cached."""
    try:
        return json.loads(json.dumps(obj, default=_json_default))
    except (TypeError, ValueError) as e:
        raise TypeError(f"{what}: {e}") from None


def _strict(obj: Any) -> Any:
    """Strict JSON values: NaN -> None, +-inf -> "inf"/"-inf" (recursively)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, dict):
        return {str(k): _strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_strict(v) for v in obj]
    return obj


def write_json(path: Path, obj: Any) -> None:
    """Write strict JSON atomically (temp file + ``os.replace``)."""
    atomic_write(Path(path), (json.dumps(obj, indent=1, allow_nan=False) + "\n").encode())


# -- the evidence cache ---------------------------------------------------------------------------
class EvidenceCache:
    """Evidence per claim in ``root``: ``{id}.{mode}.{key}.json`` plus ``...fig{i}.png``.

    The JSON is written last (atomically), so its presence means the entry is whole. Storing an
    entry removes the claim's older entries of the same mode.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @staticmethod
    def key(claim: Claim, mode: str, src_hash: str) -> str:
        from actlab import __version__

        raw = json.dumps([claim.id, claim.version, mode, __version__, src_hash])
        return hashlib.sha256(raw.encode()).hexdigest()[:16]

    def _json(self, cid: str, mode: str, key: str) -> Path:
        return self.root / f"{cid}.{mode}.{key}.json"

    def has(self, cid: str, mode: str, key: str) -> bool:
        return self._json(cid, mode, key).exists()

    def load(self, cid: str, mode: str, key: str) -> tuple[Evidence, float] | None:
        """The cached evidence and the seconds its measurement took, or None."""
        p = self._json(cid, mode, key)
        try:
            d = json.loads(p.read_text(encoding="utf-8"))
            figs = [Figure((self.root / f["file"]).read_bytes(), f["caption"], f.get("alt", ""))
                    for f in d["figures"]]
        except (OSError, ValueError, KeyError, TypeError):
            return None  # absent or damaged: measure again
        tables = [Table(t["columns"], t["rows"], t.get("caption", "")) for t in d["tables"]]
        ev = Evidence(d["numbers"], d["setup"], figs, tables, d.get("notes", ""))
        return ev, float(d.get("measure_s", 0.0))

    def save(self, cid: str, mode: str, key: str, ev: Evidence, measure_s: float) -> None:
        stem = f"{cid}.{mode}.{key}"
        figs = []
        for i, f in enumerate(ev.figures):
            name = f"{stem}.fig{i + 1}.png"
            atomic_write(self.root / name, f.png)
            figs.append({"file": name, "caption": f.caption, "alt": f.alt})
        d = {"numbers": ev.numbers, "setup": ev.setup, "notes": ev.notes, "measure_s": measure_s,
             "tables": [{"columns": t.columns, "rows": t.rows, "caption": t.caption} for t in ev.tables],
             "figures": figs}
        atomic_write(self._json(cid, mode, key), json.dumps(d, default=_json_default).encode())
        for old in self.root.glob(f"{cid}.{mode}.*"):
            if not old.name.startswith(stem + "."):
                with contextlib.suppress(OSError):
                    old.unlink()

    def timings(self) -> dict[str, dict[str, float]]:
        """The last measured seconds per mode and claim (weights the progress bar's ETA)."""
        try:
            return json.loads((self.root / "timings.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def save_timings(self, t: dict[str, dict[str, float]]) -> None:
        atomic_write(self.root / "timings.json", json.dumps(t, indent=1, sort_keys=True).encode())


# -- running --------------------------------------------------------------------------------------
def _natural(cid: str) -> tuple[str, int, str]:
    m = re.match(r"^([A-Za-z]*)(\d*)(.*)$", cid)
    assert m is not None
    return m.group(1), int(m.group(2) or 0), m.group(3)


def _evidence_warnings(ev: Evidence) -> list[str]:
    w = []
    if not ev.figures:
        w.append("no figure: every claim should show at least one")
    if any(not f.caption.strip() for f in ev.figures):
        w.append("a figure has no caption")
    if not ev.numbers:
        w.append("no measured numbers")
    return w


def _check_evidence(ev: Any) -> Evidence:
    if not isinstance(ev, Evidence):
        raise TypeError(f"measure must return actlab.report.claim.Evidence, got {type(ev).__name__}")
    for f in ev.figures:
        if not isinstance(f, Figure) or not isinstance(f.png, bytes) or not f.png.startswith(b"\x89PNG"):
            raise TypeError("Evidence.figures must hold Figure objects with PNG bytes (use ctx.figure(fig, "
                            "caption))")
    for t in ev.tables:
        if not isinstance(t, Table):
            raise TypeError(f"Evidence.tables must hold Table objects, got {type(t).__name__}")
    return ev


def _seed_everything(seed: int = 0) -> None:
    """The same global RNG state before every claim, so a claim's result does not depend on which
    claims ran before it (``--only`` gives the numbers of the full run)."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _mode(quick: bool, tiny: bool) -> str:
    return "tiny" if tiny else ("quick" if quick else "full")


class _Progress:
    """A Rich progress bar on stderr weighted by each claim's expected seconds (its last measured
    time; a cache hit weighs almost nothing), so the ETA is in seconds, not in claims."""

    def __init__(self, weights: list[float], enabled: bool) -> None:
        self.weights = weights
        self.n = len(weights)
        self.done = 0
        self._p: Any = None
        self.enabled = enabled and self.n > 0

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self._p = Progress(TextColumn("[bold]report"), BarColumn(), TextColumn("{task.fields[count]}"),
                               TextColumn("{task.fields[current]}"), TimeElapsedColumn(), TextColumn("ETA"),
                               TimeRemainingColumn(), console=Console(stderr=True), transient=False)
            self._p.__enter__()
            self._task = self._p.add_task("report", total=sum(self.weights) or 1.0,
                                          count=f"0/{self.n} claims", current="")
        return self

    def start(self, cid: str) -> None:
        if self._p is not None:
            self._p.update(self._task, current=cid)

    def finish(self, i: int, entry: Entry, seconds: float) -> None:
        self.done += 1
        if self._p is not None:
            colour = {"confirmed": "green", "refuted": "dark_orange", "depends": "blue",
                      ERROR: "bold red", NOT_TESTED: "red"}.get(entry.label, "white")
            how = "cached" if entry.cached else f"{seconds:.1f} s"
            if entry.status != NOT_TESTED:
                self._p.console.print(f"{entry.id:>4}  [{colour}]{entry.label}[/{colour}]  [dim]{how}[/dim]")
            self._p.update(self._task, advance=self.weights[i], count=f"{self.done}/{self.n} claims",
                           current="")

    def __exit__(self, *exc: object) -> None:
        if self._p is not None:
            self._p.__exit__(*exc)


def _plan(ledger: Sequence[LedgerClaim], claims: Iterable[Claim], failures: dict[str, str],
          only: Sequence[str] | None) -> list[tuple[str, LedgerClaim | None, Claim | None]]:
    by_id = {c.id: c for c in claims}
    in_ledger = {c.id for c in ledger}
    extra = sorted((set(by_id) | set(failures)) - in_ledger, key=_natural)
    plan: list[tuple[str, LedgerClaim | None, Claim | None]] = [(c.id, c, by_id.get(c.id)) for c in ledger]
    plan += [(cid, None, by_id.get(cid)) for cid in extra]
    if only:
        valid = [cid for cid, _, _ in plan]
        upper = {cid.upper(): cid for cid in valid}
        wanted = []
        for w in only:
            if w.strip().upper() not in upper:
                raise ReportError(f"unknown claim id {w!r}; valid: {', '.join(valid)}")
            wanted.append(upper[w.strip().upper()])
        plan = [p for p in plan if p[0] in set(wanted)]
    return plan


def run_report(out: str | os.PathLike[str] = "report", quick: bool = True, only: Sequence[str] | None = None,
               backend: str = "local", workers: int | None = None, *, fresh: bool = False,
               tiny: bool = False, progress: bool = True, claims: Sequence[Claim] | None = None,
               ledger: Sequence[LedgerClaim] | None = None, html: bool = True) -> Report:
    """Run the claims and write ``OUT/results.json``, ``OUT/figures/`` and ``OUT/index.html``.

    Args:
        out: the report folder (also holds the evidence cache ``.cache/`` and the sweep store).
        quick: fewer seeds/epochs, the same verdict rules.
        only: claim ids to run (default: all); an unknown id raises :class:`ReportError`.
        backend, workers: the sweep engine's (``local`` or ``ray``) for the claims' trainings.
        fresh: ignore cached evidence (the sweep store's trials are still reused).
        tiny: the test suite's scale (verdicts mean nothing).
        progress: a progress bar with ETA on stderr.
        claims, ledger: instead of the discovered claims / the shipped ledger (tests).
        html: also write ``index.html``.
    """
    import matplotlib

    matplotlib.use("Agg")  # the report draws to PNG only; no display needed
    t_start = time.perf_counter()
    out = Path(out)
    if out.exists() and not out.is_dir():  # before any experiment runs, not after
        raise ReportError(f"--out {str(out)!r} is a file; the report writes a folder (index.html, "
                          "results.json, figures/): give a folder name")
    ledger = list(ledger) if ledger is not None else load_ledger()
    failures: dict[str, str] = {}
    if claims is None:
        claims, failures = discover()
    plan = _plan(ledger, claims, failures, only)
    mode = _mode(quick, tiny)
    cache = EvidenceCache(out / ".cache")
    ctx = Context(quick=quick, out=out, backend=backend, store=out / "store.sqlite", workers=workers,
                  tiny=tiny)
    timings = cache.timings()
    known = timings.get(mode, {})
    default = (sum(known.values()) / len(known)) if known else _DEFAULT_SECONDS[mode]

    keys: dict[str, str] = {}
    weights = []
    for cid, _, claim in plan:
        if claim is None:
            weights.append(0.0)
            continue
        keys[cid] = EvidenceCache.key(claim, mode, source_hash(claim))
        hit = not fresh and cache.has(cid, mode, keys[cid])
        weights.append(0.01 if hit else max(known.get(cid, default), 0.05))

    entries: list[Entry] = []
    with _Progress(weights, progress) as bar:
        for i, (cid, lc, claim) in enumerate(plan):
            t0 = time.perf_counter()
            bar.start(cid)
            entry = Entry(id=cid, text=lc.text if lc else (claim.title if claim else ""),
                          sources=lc.sources if lc else (), section="ledger" if lc else "theory", quick=quick)
            if claim is not None:
                _run_one(entry, claim, ctx, cache, mode, keys[cid], fresh)
                if not entry.cached and "measure_s" in entry.timings:
                    known[cid] = round(entry.timings["measure_s"], 3)
            elif cid in failures:
                entry.status, entry.error = ERROR, failures[cid]
            if lc is None and _LEDGER_LIKE.match(cid):
                entry.status, entry.verdict = ERROR, None
                entry.error = (f"claim {cid} is not in the ledger (src/actlab/report/ledger.md): add it "
                               "there with its text and tutorial sources"
                               + (f"\n\n{entry.error}" if entry.error else ""))
            entry.timings["total_s"] = round(time.perf_counter() - t0, 3)
            entries.append(entry)
            bar.finish(i, entry, entry.timings["total_s"])
    if known:
        timings[mode] = known
        with contextlib.suppress(OSError):
            cache.save_timings(timings)

    report = Report(_meta(mode, quick, backend, workers, only, fresh, time.perf_counter() - t_start,
                          entries, len(ledger)), entries)
    write_outputs(report, out, html=html)
    return report


def _run_one(entry: Entry, claim: Claim, ctx: Context, cache: EvidenceCache, mode: str, key: str,
             fresh: bool) -> None:
    entry.title, entry.rule, entry.version = claim.title, claim.rule, claim.version
    entry.module = getattr(claim.measure, "__module__", "") or ""
    loaded = None if fresh else cache.load(claim.id, mode, key)
    try:
        if loaded is not None:
            ev, measure_s = loaded
            entry.cached = True
        else:
            _seed_everything()
            t0 = time.perf_counter()
            ev = _check_evidence(claim.measure(ctx))
            measure_s = time.perf_counter() - t0
            ev.numbers = _plain(ev.numbers, f"claim {claim.id}: Evidence.numbers")
            ev.setup = _plain(ev.setup, f"claim {claim.id}: Evidence.setup")
            ev.tables = [Table(list(t.columns), _plain(t.rows, f"claim {claim.id}: a table's rows"),
                               t.caption) for t in ev.tables]
            cache.save(claim.id, mode, key, ev, measure_s)
        entry.timings["measure_s"] = round(measure_s, 3)
        entry.numbers, entry.setup, entry.figures = ev.numbers, ev.setup, ev.figures
        entry.tables, entry.notes = ev.tables, ev.notes
        entry.warnings = _evidence_warnings(ev)
        t1 = time.perf_counter()
        v = claim.decide(ev.numbers, ctx.quick)
        entry.timings["decide_s"] = round(time.perf_counter() - t1, 4)
        if v.verdict not in VERDICTS:  # a Verdict validates itself; this catches look-alike objects
            raise ValueError(f"decide returned verdict {v.verdict!r}; valid: {', '.join(VERDICTS)}")
        entry.status, entry.verdict, entry.reason = "verdict", v.verdict, v.reason
    except Exception:
        entry.status, entry.verdict = ERROR, None
        entry.error = traceback.format_exc()


def _meta(mode: str, quick: bool, backend: str, workers: int | None, only: Sequence[str] | None, fresh: bool,
          total_s: float, entries: list[Entry], n_ledger: int) -> dict[str, Any]:
    import torch

    from actlab import __version__

    counts: dict[str, int] = {}
    for e in entries:
        counts[e.label] = counts.get(e.label, 0) + 1
    return {
        "actlab": __version__, "torch": torch.__version__, "python": platform.python_version(),
        "platform": platform.platform(), "cpus": os.cpu_count(),
        "date": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "mode": mode, "quick": quick, "backend": backend, "workers": workers,
        "only": list(only) if only else None, "fresh": fresh, "total_s": round(total_s, 2),
        "n_claims": len(entries), "n_ledger": n_ledger, "counts": counts,
        "cache_hits": sum(e.cached for e in entries),
    }


def write_outputs(report: Report, out: Path, html: bool = True) -> None:
    """``results.json``, the figures as ``figures/{id}-{n}.png`` and (``html``) ``index.html``."""
    out = Path(out)
    fig_dir = out / "figures"
    wanted = set()
    for e in report.entries:
        for i, f in enumerate(e.figures):
            name = f"{e.id}-{i + 1}.png"
            wanted.add(name)
            p = fig_dir / name
            if not (p.exists() and p.read_bytes() == f.png):
                atomic_write(p, f.png)
    if fig_dir.exists():
        for p in fig_dir.glob("*.png"):
            if p.name not in wanted:
                p.unlink()
    write_json(out / "results.json", report.as_dict())
    if html:
        from actlab.report.html import write_html

        write_html(report, out / "index.html")
