"""``actlab sweep``: run grids of training runs, inspect and tabulate their results."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from actlab.cli import fail

sweep_app = typer.Typer(help="Grids of training runs on an embedded results store (run, status, table, "
                        "plot).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(sweep_app, name="sweep")


Out = Annotated[Path, typer.Option("--out", help="Output folder: the grid's store path is resolved inside "
                                   "it.")]
Where = Annotated[list[str] | None, typer.Option(help="Keep only trials with KEY=VALUE (repeatable).")]
StoreOpt = Annotated[Path | None, typer.Option("--store", help="Results store (SQLite file); default: the "
                                                "store the grid names (its sweep table) inside --out.")]


def _source(source: Path, store: Path | None, out: Path) -> tuple[Any, Path, list[str] | None]:
    """A grid file or a store file -> (grid or None, store path, the grid's hashes or None)."""
    from actlab.sweep import load_grid

    if source.suffix.lower() == ".toml":
        grid = load_grid(source, out)
        return grid, (store or grid.store), [c.hash for c in grid]
    if store is not None:
        fail("give either a grid file (with --store) or a store file, not a store twice")
    if not source.exists():
        fail(f"no such file: {source}; valid: a grid .toml file or a results store .sqlite file")
    return None, source, None


def _frame(store_path: Path, hashes: list[str] | None) -> Any:
    from actlab.sweep import Store

    with Store(store_path, readonly=True) as st:
        df = st.dataframe()
    if hashes is not None and not df.empty:
        df = df[df["hash"].isin(set(hashes))]
    return df


def _where(items: list[str] | None) -> dict[str, str]:
    out = {}
    for item in items or []:
        if "=" not in item:
            fail(f"--where {item!r} is invalid; valid: KEY=VALUE, e.g. --where init=kaiming_normal")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


@sweep_app.command("run")
def run(
    grid_file: Annotated[Path, typer.Argument(help="Grid file (TOML).", metavar="GRID")],
    store: StoreOpt = None,
    out: Out = Path("."),
    backend: Annotated[str, typer.Option(help="local (process pool) or ray.")] = "local",
    address: Annotated[str | None, typer.Option(help="Ray cluster address (with --backend ray); default: "
                                                 "a local Ray instance on loopback.")] = None,
    workers: Annotated[int | None, typer.Option(help="Parallel workers; default: the usable cores.")] = None,
    ensemble: Annotated[bool, typer.Option(help="Train compatible MLP trials as vectorised "
                                           "ensembles.")] = True,
    retry_failed: Annotated[bool, typer.Option(help="Run trials recorded as failed again.")] = False,
    dry_run: Annotated[bool, typer.Option(help="Validate and count the trials; run nothing.")] = False,
    progress: Annotated[bool, typer.Option(help="Show the progress bar.")] = True,
) -> None:
    """Run a grid; trials already in the store are skipped (re-run after a crash to resume)."""
    from actlab.sweep import Store, load_grid, run_grid
    from actlab.sweep._malloc import tune_malloc
    from actlab.sweep.backends import check_backend
    from actlab.sweep.ensemble import plan

    check_backend(backend, workers, address)  # before anything is printed or a store is created
    grid = load_grid(grid_file, out)
    path = store or grid.store
    with Store(path) as st:
        done = st.hashes(status=("ok", "diverged")) if retry_failed else st.hashes()
    todo = [c for c in grid if c.hash not in done]
    n_tasks = len(plan(todo, ensemble=ensemble, workers=workers or 1))
    typer.echo(f"grid {grid.name}: {len(grid)} trials, {len(grid) - len(todo)} already in {path}, "
               f"{len(todo)} to run as {n_tasks} tasks on {backend}", err=True)
    if dry_run:
        return
    tune_malloc()
    results = run_grid(grid, store=path, backend=backend, workers=workers, progress=progress,
                       ensemble=ensemble, address=address, retry_failed=retry_failed)
    counts = {s: sum(r.status == s for r in results) for s in ("ok", "diverged", "failed")}
    typer.echo(f"done: {counts['ok']} ok, {counts['diverged']} diverged, {counts['failed']} failed; "
               f"store {path}", err=True)
    if counts["failed"]:
        first = next(r for r in results if r.status == "failed")
        last_line = (first.error or "").strip().splitlines()[-1:] or [""]
        typer.echo(f"first failure ({first.config.label()}): {last_line[0]}  "
                   f"(see `actlab sweep status {grid_file}`)", err=True)


@sweep_app.command("status")
def status(
    source: Annotated[Path, typer.Argument(help="A grid file (.toml) or a results store (.sqlite).")],
    store: StoreOpt = None,
    out: Out = Path("."),
) -> None:
    """Trials done, diverged, failed and pending; the failures' last error lines."""
    from rich.console import Console
    from rich.table import Table

    from actlab.sweep import Store

    grid, path, hashes = _source(source, store, out)
    if not Path(path).exists():
        if grid is None:
            fail(f"no results store at {path}")
        typer.echo(f"grid {grid.name}: {len(grid)} trials, none run yet (store {path} does not exist)")
        return
    with Store(path, readonly=True) as st:
        results = st.results(hashes, epochs=False) if hashes is not None else st.results(epochs=False)
        integrity = st.integrity_check()
    counts = {s: sum(r.status == s for r in results) for s in ("ok", "diverged", "failed")}
    total = len(hashes) if hashes is not None else len(results)
    t = Table()
    for c in ("trials", "ok", "diverged", "failed", "pending"):
        t.add_column(c, justify="right")
    t.add_row(str(total), str(counts["ok"]), str(counts["diverged"]), str(counts["failed"]),
              str(total - len(results)))
    console = Console()
    # the store's path on a line of its own, never broken inside a word
    console.print(f"{'grid ' + grid.name + ', ' if grid else ''}store {path} (integrity: {integrity})",
                  soft_wrap=True, highlight=False)
    console.print(t)
    for r in [r for r in results if r.status == "failed"][:10]:
        last = (r.error or "").strip().splitlines()[-1:] or [""]
        console.print(f"[red]failed[/red] {r.hash} {r.config.label()}: {last[0]}", highlight=False)


@sweep_app.command("table")
def table(
    source: Annotated[Path, typer.Argument(help="A grid file (.toml) or a results store (.sqlite).")],
    rows: Annotated[str, typer.Option(help="Row field(s), comma-separated (e.g. act or act,init).")] = "act",
    cols: Annotated[str, typer.Option(help="Column field(s), comma-separated; '' for none.")] = "depth",
    metric: Annotated[str, typer.Option(help="Final metric: test_acc, test_loss, train_acc, train_loss, "
                                         "best_test_acc, steps, wall_s, ...")] = "test_acc",
    where: Where = None,
    precision: Annotated[int, typer.Option(help="Decimals.")] = 3,
    store: StoreOpt = None,
    out: Out = Path("."),
) -> None:
    """Mean ± std over seeds of a metric in a rows x cols table (diverged/failed counted apart)."""
    from rich.console import Console
    from rich.table import Table

    from actlab.sweep.analysis import format_cell, summarize

    grid, path, hashes = _source(source, store, out)
    if not Path(path).exists():
        fail(f"no results store at {path}; run `actlab sweep run` first")
    df = _frame(path, hashes)
    row_keys = [r.strip() for r in rows.split(",") if r.strip()]
    col_keys = [c.strip() for c in cols.split(",") if c.strip()]
    s = summarize(df, row_keys, col_keys, metric, _where(where))
    ck = s.col_keys()
    title = f"{metric}: mean ± std over seeds ({grid.name if grid else path})"
    if col_keys:
        title += f"; columns: {', '.join(col_keys)}"
    t = Table(title=title)
    for k in row_keys or [""]:
        t.add_column(k, no_wrap=True)
    for c in ck:
        t.add_column(", ".join(map(str, c)) if c else metric, justify="right", no_wrap=True)
    cells = {r: [format_cell(s.cell(r, c), precision) for c in ck] for r in s.row_keys()}
    for r, row_cells in cells.items():
        t.add_row(*(map(str, r) if r else [""]), *row_cells)
    # Never fold a number across lines: widen to the table when stdout is not a terminal.
    natural = sum(max([len(str(k))] + [len(str(r[i])) for r in cells]) + 3 for i, k in enumerate(row_keys))
    natural += sum(max([len(", ".join(map(str, c)))] + [len(v[j]) for v in cells.values()]) + 3
                   for j, c in enumerate(ck)) + 1
    console = Console()
    if not console.is_terminal:
        console = Console(width=max(console.width, natural))
    console.print(t)
    if s.pooled:
        pooled = "; ".join(f"{k} ({len(v)} values)" for k, v in s.pooled.items())
        console.print(f"[yellow]note:[/yellow] cells pool trials that differ in {pooled}; add them to "
                      "--rows/--cols or filter with --where KEY=VALUE", highlight=False)


@sweep_app.command("plot")
def plot(
    source: Annotated[Path, typer.Argument(help="A grid file (.toml) or a results store (.sqlite).")],
    x: Annotated[str, typer.Option(help="Field on the x axis.")] = "depth",
    y: Annotated[str, typer.Option(help="Metric on the y axis.")] = "test_acc",
    hue: Annotated[str | None, typer.Option(help="One line per value of this field.")] = "act",
    where: Where = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Image file to write (.png, .svg, .pdf).")] =
        Path("sweep.png"),
    logx: Annotated[bool, typer.Option(help="Logarithmic x axis.")] = False,
    store: StoreOpt = None,
    out: Out = Path("."),
) -> None:
    """Line plot of a metric (mean ± std band over seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from actlab.catalog.plot import FORMATS, save_figure
    from actlab.sweep.analysis import plot_lines

    if out.suffix.lower() in FORMATS:
        fail(f"--out {out} is the output folder of a grid's store; write the image with -o/--output {out}")
    grid, path, hashes = _source(source, store, out)
    if not Path(path).exists():
        fail(f"no results store at {path}; run `actlab sweep run` first")
    df = _frame(path, hashes)
    ax = plot_lines(df, x, y, hue, _where(where), logx=logx)
    ax.set_title(grid.name if grid else Path(path).stem)
    ax.figure.tight_layout()
    save_figure(ax.figure, output, dpi=130)
    plt.close(ax.figure)
    typer.echo(f"wrote {output}")
