"""``actlab report``: every ledger claim tested by experiment, as ``OUT/index.html`` + ``results.json``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from actlab.cli import fail

BACKENDS = ("local", "ray")


def report(
    quick: Annotated[bool, typer.Option("--quick", help="Fewer seeds/epochs, same rules.")] = False,
    out: Annotated[Path, typer.Option("--out", help="Folder for index.html, results.json, figures.")] = Path(
        "report"),
    only: Annotated[list[str] | None, typer.Option(
        "--only", help="Run only these claim ids (repeatable or comma-separated: --only C03,C04).")] = None,
    backend: Annotated[str, typer.Option(help="Sweep backend for the trainings: local or ray.")] = "local",
    workers: Annotated[int | None, typer.Option(min=1, help="Training workers (default: cores).")] = None,
    fresh: Annotated[bool, typer.Option("--fresh", help="Ignore cached evidence.")] = False,
    list_claims: Annotated[bool, typer.Option(
        "--list", help="List the claims and whether each has an experiment.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 if a claim is untested.")] = False,
) -> None:
    """Test the classic tutorial claims about activations; write OUT/index.html and OUT/results.json.

    Re-running recomputes only what changed; an interrupted run resumes. Exit 1 if an experiment failed.
    """
    from actlab.report.ledger import load_ledger
    from actlab.report.runner import ReportError, discover, run_report

    if backend not in BACKENDS:
        fail(f"unknown backend {backend!r}; valid: {', '.join(BACKENDS)}")
    if list_claims:
        claims, failures = discover()
        have = {c.id: c for c in claims}
        for lc in load_ledger():
            state = ("experiment" if lc.id in have
                     else "import error" if lc.id in failures else "not tested yet")
            typer.echo(f"{lc.id}  {state:<15} {lc.text}")
        for cid in sorted(set(have) - {lc.id for lc in load_ledger()}):
            typer.echo(f"{cid:<3}  {'experiment':<15} {have[cid].title}")
        return
    only = [w for item in (only or []) for w in item.replace(",", " ").split()]
    try:
        rep = run_report(out, quick=quick, only=only or None, backend=backend, workers=workers, fresh=fresh)
    except ReportError as e:
        fail(str(e))
    index = out / "index.html"
    counts = ", ".join(f"{n} {label}" for label, n in rep.meta["counts"].items())
    typer.echo(f"{len(rep.entries)} claims: {counts} ({rep.meta['total_s']:.0f} s)")
    typer.echo(f"report: {index.resolve()}")
    if rep.errors:
        typer.echo(f"actlab: error: the experiment of {', '.join(rep.errors)} failed; see the traceback in "
                   f"{index}", err=True)
        raise typer.Exit(1)
    if rep.missing:
        typer.echo(f"note: {len(rep.missing)} claim(s) have no experiment yet: {', '.join(rep.missing)}",
                   err=True)
        if strict:
            raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("report")(report)
