"""What one claim of the report is: an experiment that measures numbers, and a rule that turns the
numbers into a verdict.

A claim module in :mod:`actlab.report.claims` defines ``CLAIM = Claim(id=..., measure=..., decide=...)``
(or ``CLAIMS = [...]``); the runner discovers it. ``measure(ctx)`` runs the experiment and returns
:class:`Evidence` (numbers, setup, figures); ``decide(numbers, quick)`` - a pure function written next
to the experiment and tested on known inputs - returns the :class:`Verdict`. The runner always calls
``decide`` on the measured numbers, so no verdict can be typed in by hand.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure as MplFigure

    from actlab.sweep import TrialConfig, TrialResult

__all__ = ["CONFIRMED", "DEPENDS", "INCONCLUSIVE", "REFUTED", "VERDICTS", "Claim", "Context", "Evidence",
           "Figure", "Table", "Verdict"]

CONFIRMED = "confirmed"
REFUTED = "refuted"
DEPENDS = "depends"
INCONCLUSIVE = "inconclusive"
VERDICTS = (CONFIRMED, REFUTED, DEPENDS, INCONCLUSIVE)


@dataclass(frozen=True)
class Verdict:
    """``verdict``: one of :data:`VERDICTS`; ``reason``: one or two sentences applying the rule to the
    numbers (for ``depends``: on what)."""

    verdict: str
    reason: str

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict {self.verdict!r} is invalid; valid: {', '.join(VERDICTS)}")


@dataclass
class Figure:
    """A PNG with a caption that says what to look at."""

    png: bytes
    caption: str
    alt: str = ""


@dataclass
class Table:
    """A small table of measured numbers: ``columns`` names, ``rows`` of cells (str or numbers)."""

    columns: list[str]
    rows: list[list[Any]]
    caption: str = ""


@dataclass
class Evidence:
    """What ``measure`` found.

    ``numbers``: the measured numbers the rule reads (JSON-able: floats, ints, str, bools, lists, dicts);
    ``setup``: what was run (configs, seeds, dataset, epochs; JSON-able); ``figures``: at least one;
    ``tables``: optional; ``notes``: optional extra sentences shown under the numbers.
    """

    numbers: dict[str, Any]
    setup: dict[str, Any]
    figures: list[Figure] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    notes: str = ""


@dataclass(frozen=True)
class Claim:
    """One ledger claim's experiment. ``id`` as in the ledger (``"C01"``); ``title``: a few words;
    ``rule``: the verdict rule in words (shown in the report, must describe ``decide``);
    ``version``: bump when the experiment changes so cached evidence is recomputed."""

    id: str
    title: str
    rule: str
    measure: Callable[[Context], Evidence]
    decide: Callable[[dict[str, Any], bool], Verdict]
    version: int = 1


@dataclass
class Context:
    """What a claim's experiment may use.

    ``quick``: fewer seeds/epochs (same rules); ``out``: the report folder; ``backend``: the sweep
    backend (``local`` or ``ray``); ``store``: the sweep store path (training results are cached there,
    so a re-run trains only what changed and an interrupted run resumes); ``tiny``: the smallest
    scale that still exercises the pipeline, for the test suite (verdicts at tiny scale mean nothing).
    """

    quick: bool = True
    out: Path = Path("report")
    backend: str = "local"
    store: Path | None = None
    workers: int | None = None
    tiny: bool = False

    def seeds(self, quick: int, full: int, tiny: int = 1) -> list[int]:
        """Seeds 0..n-1: ``quick`` of them in quick mode, ``full`` otherwise, ``tiny`` in tests."""
        return list(range(self.pick(quick, full, tiny)))

    def pick(self, quick: Any, full: Any, tiny: Any = None) -> Any:
        """``quick`` in quick mode, ``full`` otherwise (epochs, sizes, ...); ``tiny`` (default: ``quick``)
        when the test suite runs the experiment at tiny scale."""
        if self.tiny and tiny is not None:
            return tiny
        return quick if self.quick else full

    def train(self, configs: Sequence[TrialConfig], in_process: bool = False) -> list[TrialResult]:
        """Run trials on the sweep engine (cached in ``store``); results in the order of ``configs``.
        ``in_process``: in this process whatever the backend, for trials that need its state (an
        activation registered at run time, which Ray workers and spawned processes do not have)."""
        from actlab.sweep import run_grid

        store = self.store if self.store is not None else ":memory:"
        backend, workers = ("local", 1) if in_process else (self.backend, self.workers)
        return run_grid(list(configs), store=store, backend=backend, workers=workers, progress=False)

    @staticmethod
    def figure(fig: MplFigure, caption: str, alt: str = "") -> Figure:
        """A matplotlib figure as an embedded PNG (the figure is closed)."""
        import matplotlib.pyplot as plt

        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
        plt.close(fig)
        return Figure(buf.getvalue(), caption, alt or caption.split(".")[0])
