"""The claims ledger: ``ledger.md`` (package data), the source of truth for what the report tests.

The ledger is a Markdown table ``| id | claim | sources |``; ``sources`` are the ids of the tutorials
the claim comes from (``000``, ``001``, ... - the first three characters of the tutorial file names).
A literal ``|`` inside a claim is written ``\\|`` (Markdown's escape).

    >>> from actlab.report.ledger import load_ledger
    >>> claims = load_ledger()
    >>> claims[0].id, claims[0].sources
    ('C01', ('000', '001', '003'))
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

__all__ = ["LedgerClaim", "LedgerError", "load_ledger", "load_sources", "parse_ledger", "parse_sources"]

_ID = re.compile(r"^C\d{2,}$")
_SOURCE = re.compile(r"^\d{3}$")
_CELL_SPLIT = re.compile(r"(?<!\\)\|")
_SOURCE_LINE = re.compile(r"^- (\d{3}): (.+)$")


class LedgerError(ValueError):
    """The ledger file is malformed (the message names the line)."""


@dataclass(frozen=True)
class LedgerClaim:
    """One ledger row: ``id`` (``"C01"``), the claim ``text`` and the tutorial ``sources``."""

    id: str
    text: str
    sources: tuple[str, ...]


def _cells(line: str) -> list[str]:
    inner = line.strip()
    inner = inner[1:] if inner.startswith("|") else inner
    inner = inner[:-1] if inner.endswith("|") and not inner.endswith("\\|") else inner
    return [c.strip().replace("\\|", "|") for c in _CELL_SPLIT.split(inner)]


def parse_ledger(text: str, where: str = "ledger.md") -> list[LedgerClaim]:
    """The claims of a ledger's Markdown table, in file order.

    Raises :class:`LedgerError` on a row that is not ``| Cnn | text | sources |``, a malformed
    source id, or a duplicate id.
    """
    claims: list[LedgerClaim] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s.startswith("|"):
            continue
        cells = _cells(s)
        if (cells and cells[0].lower() == "id") or all(set(c) <= set("-: ") for c in cells):
            continue  # the header row and the |---| separator
        if len(cells) != 3:
            raise LedgerError(f"{where}:{lineno}: a claim row needs 3 cells (id | claim | sources), "
                              f"got {len(cells)}")
        cid, claim_text, src = cells
        if not _ID.match(cid):
            raise LedgerError(f"{where}:{lineno}: claim id {cid!r} is invalid; valid: C followed by digits, "
                              "e.g. C07")
        if cid in seen:
            raise LedgerError(f"{where}:{lineno}: claim id {cid} is already used on line {seen[cid]}")
        sources = tuple(t.strip() for t in src.split(",") if t.strip())
        bad = [t for t in sources if not _SOURCE.match(t)]
        if bad or not sources:
            raise LedgerError(f"{where}:{lineno}: sources of {cid} must be tutorial ids like 000, 001; "
                              f"got {src!r}")
        if not claim_text:
            raise LedgerError(f"{where}:{lineno}: claim {cid} has no text")
        seen[cid] = lineno
        claims.append(LedgerClaim(cid, claim_text, sources))
    if not claims:
        raise LedgerError(f"{where}: no claim rows found (expected a table | id | claim | sources |)")
    return claims


def parse_sources(text: str) -> dict[str, str]:
    """The tutorial titles listed in a ledger as ``- 000: title`` lines: ``{"000": "title", ...}``."""
    return {m.group(1): m.group(2).strip() for line in text.splitlines()
            if (m := _SOURCE_LINE.match(line.strip()))}


def _ledger_text(path: str | Path | None) -> tuple[str, str]:
    if path is not None:
        p = Path(path)
        return p.read_text(encoding="utf-8"), str(p)
    return resources.files("actlab.report").joinpath("ledger.md").read_text(encoding="utf-8"), "ledger.md"


def load_ledger(path: str | Path | None = None) -> list[LedgerClaim]:
    """The ledger shipped with actlab (``actlab/report/ledger.md``), or the one at ``path``."""
    text, where = _ledger_text(path)
    return parse_ledger(text, where)


def load_sources(path: str | Path | None = None) -> dict[str, str]:
    """The titles of the ledger's tutorials, by source id (``"000"``)."""
    return parse_sources(_ledger_text(path)[0])
