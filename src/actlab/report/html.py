"""The report as one self-contained HTML file: figures embedded as base64 PNG, CSS inline, no script
and no network access, readable from a phone to a laptop screen.

Layout: a header (mode, date, counts), a table of contents, the summary table of every verdict, one
section per ledger claim (claim, sources, what was run, the numbers, figures, the rule and the verdict),
the theory checks, and the run's metadata.
"""

from __future__ import annotations

import base64
import html
import json
import math
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from actlab._io import atomic_write
from actlab.report.claim import CONFIRMED, DEPENDS, INCONCLUSIVE, REFUTED, Figure, Table
from actlab.report.ledger import load_sources
from actlab.report.runner import ERROR, NOT_TESTED, Entry, Report

__all__ = ["render_html", "write_html"]

#: badge class per label; the colours are defined once in the CSS below.
_BADGE = {CONFIRMED: "confirmed", REFUTED: "refuted", DEPENDS: "depends", INCONCLUSIVE: "inconclusive",
          ERROR: "error", NOT_TESTED: "missing"}
_MAX_NUMBER_ROWS = 40  # more flattened numbers than this go into a collapsed JSON block
_OPEN_ROWS = 12  # numbers/settings blocks up to this many rows are shown open

_CSS = """
:root { --fg:#1d2330; --muted:#5b6474; --bg:#fff; --line:#dfe3ea; --soft:#f5f7fa; --accent:#2457c5;
  --confirmed:#17803d; --refuted:#c2410c; --depends:#2457c5; --inconclusive:#6b7280; --error:#b91c1c;
  --missing:#9ca3af; }
* { box-sizing: border-box; }
body { margin:0; font:16px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Noto Sans CJK SC",
  sans-serif; color:var(--fg); background:var(--bg); }
main { max-width: 980px; margin: 0 auto; padding: 1rem 1.1rem 4rem; }
h1 { font-size: 1.7rem; margin: .6rem 0 .2rem; }
h2 { font-size: 1.35rem; margin-top: 2.4rem; border-bottom: 2px solid var(--line); padding-bottom: .2rem; }
h3 { font-size: 1.12rem; margin: 0; }
h4 { font-size: .95rem; margin: 1.1rem 0 .3rem; color: var(--muted); text-transform: uppercase;
  letter-spacing: .04em; }
a { color: var(--accent); }
code, pre { font: .88em/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; }
pre { background: var(--soft); padding: .7rem; overflow-x: auto; border-radius: 6px; white-space: pre-wrap; }
.lead { color: var(--muted); margin: 0 0 .8rem; }
.banner { background: #fff7e6; border: 1px solid #f3d59b; padding: .6rem .8rem; border-radius: 6px; }
.counts { display: flex; flex-wrap: wrap; gap: .4rem; margin: .8rem 0; padding: 0; list-style: none; }
.badge { display: inline-block; padding: .05rem .55rem; border-radius: 999px; color: #fff; font-size: .82rem;
  font-weight: 600; white-space: nowrap; }
.badge.confirmed { background: var(--confirmed); } .badge.refuted { background: var(--refuted); }
.badge.depends { background: var(--depends); } .badge.inconclusive { background: var(--inconclusive); }
.badge.error { background: var(--error); }
.badge.missing { background: #fff; color: var(--muted); border: 1px dashed var(--missing); }
nav.toc { background: var(--soft); border-radius: 8px; padding: .6rem 1rem; margin: 1rem 0; }
nav.toc ol { margin: .3rem 0; padding-left: 1.3rem; columns: 2 18rem; }
nav.toc li { break-inside: avoid; font-size: .92rem; }
.scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
th, td { text-align: left; vertical-align: top; padding: .35rem .5rem; border-bottom: 1px solid var(--line); }
th { background: var(--soft); font-weight: 600; }
td.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
table.summary td:first-child { white-space: nowrap; }
section.claim { border: 1px solid var(--line); border-radius: 10px; padding: .9rem 1rem; margin: 1.2rem 0; }
section.claim header { display: flex; flex-wrap: wrap; gap: .5rem; align-items: baseline;
  justify-content: space-between; }
blockquote { margin: .6rem 0; padding: .3rem .9rem; border-left: 4px solid var(--line); color: #2c3442; }
.verdict { background: var(--soft); border-radius: 8px; padding: .6rem .8rem; margin-top: .8rem; }
.src { color: var(--muted); font-size: .88rem; }
figure { margin: 1rem 0; }
figure img { display: block; max-width: 100%; height: auto; margin: 0 auto; border: 1px solid var(--line);
  border-radius: 4px; }
figcaption { font-size: .9rem; color: #364152; margin-top: .35rem; }
details summary { cursor: pointer; color: var(--accent); }
details.block { margin: .8rem 0; } details.block > summary { margin-bottom: .3rem; }
table.summary th:nth-child(3), table.summary td:nth-child(3) { width: 1%; }
.warn { color: var(--error); font-size: .9rem; }
footer { color: var(--muted); font-size: .85rem; margin-top: 3rem; }
@media (max-width: 640px) {
  body { font-size: 15px; } main { padding: .6rem .7rem 3rem; }
  table.summary .reason { display: none; }
  section.claim { padding: .7rem .6rem; }
}
"""


def _e(s: Any) -> str:
    return html.escape(str(s), quote=True)


def _short(text: str, n: int) -> str:
    """``text`` cut at a word boundary to at most ``n`` characters (with an ellipsis when cut)."""
    if len(text) <= n:
        return text
    cut = text[: n - 1].rsplit(" ", 1)[0].rstrip(" ,;:(")
    return cut + "…"


def _badge(label: str) -> str:
    return f'<span class="badge {_BADGE.get(label, "missing")}">{_e(label)}</span>'


def _fmt(v: Any) -> str:
    """A measured value as text: floats to 4 significant digits (small/large in e-notation)."""
    if isinstance(v, bool) or v is None:
        return str(v).lower() if isinstance(v, bool) else "—"
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return f"{v:.4g}"
    if isinstance(v, list):
        if len(v) <= 8 and all(not isinstance(x, (list, dict)) for x in v):
            return "[" + ", ".join(_fmt(x) for x in v) + "]"
        return f"[{len(v)} values]"
    return str(v)


def _flatten(d: Any, prefix: str = "") -> Iterable[tuple[str, Any]]:
    if isinstance(d, dict):
        for k, v in d.items():
            yield from _flatten(v, f"{prefix}.{k}" if prefix else str(k))
    else:
        yield prefix, d


def _kv_table(d: dict[str, Any], what: str) -> str:
    rows = list(_flatten(d))
    if not rows:
        return ""
    shown = rows[:_MAX_NUMBER_ROWS]
    body = "".join(f"<tr><td><code>{_e(k)}</code></td><td class=num>{_e(_fmt(v))}</td></tr>"
                   for k, v in shown)
    out = f'<div class="scroll"><table><tr><th>{_e(what)}</th><th>value</th></tr>{body}</table></div>'
    long_lists = any(isinstance(v, list) and _fmt(v).endswith("values]") for _, v in shown)
    if len(rows) > len(shown) or long_lists:
        out += (f"<details><summary>all {_e(what)} (JSON)</summary><pre>"
                f"{_e(json.dumps(d, indent=1, ensure_ascii=False))}</pre></details>")
    return out


def _table(t: Table) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in t.columns)
    body = "".join("<tr>" + "".join(f"<td class=num>{_e(_fmt(c))}</td>" for c in row) + "</tr>"
                   for row in t.rows)
    cap = f"<p class=src>{_e(t.caption)}</p>" if t.caption else ""
    return f'<div class="scroll"><table><tr>{head}</tr>{body}</table></div>{cap}'


def _png_size(png: bytes) -> tuple[int, int] | None:
    """Width and height from the PNG header (so the browser reserves the space before decoding)."""
    if len(png) >= 24 and png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR":
        w, h = struct.unpack(">II", png[16:24])
        return w, h
    return None


def _figure(f: Figure, label: str) -> str:
    size = _png_size(f.png)
    dims = f' width="{size[0]}" height="{size[1]}"' if size else ""
    data = base64.b64encode(f.png).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{_e(f.alt or f.caption)}"{dims} '
            f'><figcaption><b>{_e(label)}.</b> {_e(f.caption)}</figcaption></figure>')


def _sources(e: Entry, titles: dict[str, str]) -> str:
    if not e.sources:
        return ""
    items = ", ".join(f"tutorial {_e(s)}" + (f" <span>({_e(titles[s])})</span>" if s in titles else "")
                      for s in e.sources)
    return f'<p class="src">Source: {items}</p>'


def _count(d: dict[str, Any]) -> int:
    return sum(1 for _ in _flatten(d))


def _details(title: str, inner: str, rows: int) -> str:
    """A collapsible block, open when it is short (long set-ups would bury the figures)."""
    opened = " open" if rows <= _OPEN_ROWS else ""
    return (f"<details class=block{opened}><summary><b>{_e(title)}</b> ({rows} values)</summary>"
            f"{inner}</details>")


def _claim_section(e: Entry, titles: dict[str, str]) -> str:
    parts = [f'<section class="claim" id="{_e(e.id)}"><header>'
             f"<h3>{_e(e.id)} · {_e(e.title or e.text)}</h3>{_badge(e.label)}</header>"]
    parts.append(f"<blockquote>{_e(e.text)}</blockquote>{_sources(e, titles)}")
    if e.status == NOT_TESTED:
        parts.append('<p class="warn">No experiment for this claim yet: it has no verdict.</p></section>')
        return "".join(parts)
    # The verdict first, then what shows it (figures, tables), then the raw numbers and the set-up.
    if e.rule:
        parts.append(f'<div class="verdict"><b>Rule.</b> {_e(e.rule)}')
        if e.status == "verdict":
            parts.append(f"<br><b>Verdict.</b> {_badge(e.label)} {_e(e.reason)}")
        parts.append("</div>")
    for i, f in enumerate(e.figures):
        parts.append(_figure(f, f"Figure {e.id}.{i + 1}"))
    for t in e.tables:
        parts.append(_table(t))
    if e.notes:
        parts.append(f"<p>{_e(e.notes)}</p>")
    for w in e.warnings:
        parts.append(f'<p class="warn">Warning: {_e(w)}</p>')
    if e.numbers:
        parts.append(_details("Measured numbers", _kv_table(e.numbers, "number"), _count(e.numbers)))
    if e.setup:
        parts.append(_details("What was run", _kv_table(e.setup, "setting"), _count(e.setup)))
    if e.status == ERROR:
        parts.append(f'<p class="warn">The experiment failed, so this claim has no verdict.</p>'
                     f"<details><summary>traceback</summary><pre>{_e(e.error)}</pre></details>")
    how = "cached evidence" if e.cached else f"measured in {e.timings.get('measure_s', 0):.1f} s"
    parts.append(f'<p class="src">{_e(how)}; experiment: <code>{_e(e.module)}</code></p></section>')
    return "".join(parts)


def _summary(entries: list[Entry]) -> str:
    rows = []
    for e in entries:
        text = _short(e.text, 140)
        rows.append(f'<tr><td><a href="#{_e(e.id)}">{_e(e.id)}</a></td><td>{_e(text)}</td>'
                    f"<td>{_badge(e.label)}</td><td class=reason>{_e(e.reason)}</td></tr>")
    return ('<div class="scroll"><table class="summary"><tr><th>id</th><th>claim</th><th>verdict</th>'
            f'<th class=reason>why</th></tr>{"".join(rows)}</table></div>')


def render_html(report: Report) -> str:
    """The report as an HTML string (self-contained)."""
    meta = report.meta
    titles = load_sources()
    ledger = [e for e in report.entries if e.section == "ledger"]
    theory = [e for e in report.entries if e.section != "ledger"]
    counts = meta.get("counts", {})
    order = [CONFIRMED, REFUTED, DEPENDS, INCONCLUSIVE, ERROR, NOT_TESTED]
    count_items = "".join(f"<li>{_badge(k)} {counts[k]}</li>" for k in order if counts.get(k))
    mode = meta.get("mode", "quick")
    banner = ""
    if mode != "full":
        banner = ('<p class="banner"><b>Quick mode</b>: fewer seeds, epochs and sizes than the full run, '
                  "with the same verdict rules. Where quick mode's evidence cannot decide a claim, its "
                  "verdict is “inconclusive”. Run <code>actlab report</code> for the full run, which may "
                  "decide it.</p>")
    if report.missing:
        banner += (f'<p class="banner">{len(report.missing)} claim(s) have no experiment yet: '
                   f"{_e(', '.join(report.missing))}.</p>")
    toc = ['<li><a href="#summary">Summary of verdicts</a></li>']
    toc += [f'<li><a href="#{_e(e.id)}">{_e(e.id)} · {_e(e.title or _short(e.text, 60))}</a></li>'
            for e in ledger]
    if theory:
        toc.append('<li><a href="#theory">Theory checks</a></li>')
        toc += [f'<li><a href="#{_e(e.id)}">{_e(e.id)} · {_e(_short(e.title, 60))}</a></li>'
                for e in theory]
    toc.append('<li><a href="#about">About this run</a></li>')
    body = [
        "<header>",
        "<h1>Activation functions: the classic claims, tested</h1>",
        f'<p class="lead">{len(ledger)} claims from five tutorials, each tested by experiment or exact '
        "computation with <code>actlab</code>; every verdict is computed from the measured numbers by the "
        "rule shown next to it.</p>",
        banner,
        f'<ul class="counts">{count_items}</ul>',
        "</header>",
        f'<nav class="toc" aria-label="Contents"><b>Contents</b><ol>{"".join(toc)}</ol></nav>',
        '<h2 id="summary">Summary of verdicts</h2>',
        "<p>A number in parentheses in a claim, such as (000), names the tutorial that wording comes "
        "from where the tutorials disagree; each claim's section lists its tutorials.</p>",
        _summary(report.entries),
        "<h2>The claims</h2>",
        *(_claim_section(e, titles) for e in ledger),
    ]
    if theory:
        body += ['<h2 id="theory">Theory checks</h2>',
                 "<p>Predictions of mean-field signal propagation (Poole et al. 2016; Schoenholz et al. "
                 "2017; Pennington et al. 2017) checked against measured networks.</p>",
                 *(_claim_section(e, titles) for e in theory)]
    about = {k: meta[k] for k in ("actlab", "torch", "python", "platform", "cpus", "date", "mode", "backend",
                                  "total_s", "cache_hits") if k in meta}
    body += ['<h2 id="about">About this run</h2>', _kv_table(about, "item"),
             "<footer>Generated by <code>actlab report</code>. Data: synthetic tasks and scikit-learn's "
             "bundled datasets only; nothing was downloaded.</footer>"]
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            "<title>actlab report: activation-function claims tested</title>"
            f"<style>{_CSS}</style></head><body><main>{''.join(body)}</main></body></html>\n")


def write_html(report: Report, path: str | Path) -> None:
    """Write :func:`render_html` to ``path`` atomically."""
    atomic_write(path, render_html(report).encode("utf-8"))
