"""``actlab demo noisy``: the noisy-unit demonstrations (saturated digits MLP, LSTM counting task)."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Annotated

import typer

from actlab.cli import fail

TASK_CHOICES = ("all", "digits", "counting")

demo_app = typer.Typer(help="Reproducible demonstrations.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(demo_app, name="demo")


@demo_app.command("noisy")
def noisy_cmd(
    task: Annotated[str, typer.Option(help="digits: saturated hard_tanh MLP on sklearn digits; "
                                           "counting: LSTM counting distinct integers; all: both.")] = "all",
    seeds: Annotated[int | None, typer.Option(help="Seeds 0..N-1 per variant (default: 5 digits, "
                                                   "3 counting).")] = None,
    epochs: Annotated[int, typer.Option(help="Digits: training epochs.")] = 12,
    bias: Annotated[float, typer.Option(help="Digits: initial hidden bias (2: ~97% of units start "
                                             "saturated).")] = 2.0,
    steps: Annotated[int, typer.Option(help="Counting: training steps (batches of 64).")] = 1500,
    length: Annotated[int, typer.Option(help="Counting: sequence length.")] = 6,
    vocab: Annotated[int, typer.Option(help="Counting: integers drawn from 0..vocab-1.")] = 6,
    workers: Annotated[int, typer.Option(help="Processes (one torch thread each).")] = 2,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write a figure (PNG, SVG or PDF): the NAN unit "
                                              "with its noise band and the learning curves.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the per-seed curves as JSON.")] = False,
) -> None:
    """Noisy hard units with annealed noise vs plain hard units vs soft units, over seeds.

    Prints eval-mode test accuracy (mean +- std over seeds), per-seed time to a threshold, final accuracy.

    Example: actlab demo noisy --task digits --seeds 3 --plot noisy.png
    """
    from actlab.noisy import demo

    if task not in TASK_CHOICES:
        fail(f"--task {task!r} is invalid; valid: {', '.join(TASK_CHOICES)}")
    from actlab.catalog.plot import FORMATS

    if plot is not None and plot.suffix.lower() not in FORMATS:
        fail(f"--plot {str(plot)!r} is invalid; valid: a file name ending in {', '.join(FORMATS)}")
    digits = counting = None
    every = 1
    out: dict[str, object] = {}
    try:
        if task in ("all", "digits"):
            t0 = time.perf_counter()
            digits = demo.digits_demo(seeds=5 if seeds is None else seeds, epochs=epochs, bias=bias,
                                      workers=workers)
            secs = time.perf_counter() - t0
            out["digits"] = _as_dict(digits, secs)
            if not as_json:
                sat = next(iter(digits.values())).saturated
                lo, hi = f"{100 * min(sat):.0f}", f"{100 * max(sat):.0f}"
                typer.echo(f"digits MLP (2 x 64, hidden bias {bias:g}): first-layer pre-activations "
                           f"beyond +-1 at init: {lo if lo == hi else f'{lo}-{hi}'}% "
                           f"(over seeds); test accuracy %, mean +- std over {len(sat)} seeds "
                           f"[{secs:.0f} s]")
                typer.echo(demo.format_table(digits))
                typer.echo(demo.summary(digits, 0.9))
        if task in ("all", "counting"):
            evals = 6
            every = max(1, steps // evals)
            t0 = time.perf_counter()
            counting = demo.counting_demo(seeds=3 if seeds is None else seeds, steps=steps,
                                          length=length, vocab=vocab, evals=evals, workers=workers)
            secs = time.perf_counter() - t0
            out["counting"] = {**_as_dict(counting, secs), "every": every}
            if not as_json:
                n = len(next(iter(counting.values())).test_acc)
                typer.echo(f"\ncounting distinct integers (LSTM, hidden 32, length {length}, vocab {vocab}): "
                           f"test accuracy %, mean +- std over {n} seeds "
                           f"[{secs:.0f} s]")
                typer.echo(demo.format_table(counting, label="step", scale=every))
                typer.echo(demo.summary(counting, 0.9, label="step", scale=every))
    except ValueError as e:
        fail(str(e))
    if plot is not None:
        path = demo.plot(plot, digits=digits, counting=counting, counting_scale=every, digits_bias=bias)
        if not as_json:
            typer.echo(f"wrote {path}")
    if as_json:
        typer.echo(json.dumps(out))


def _as_dict(curves: dict, seconds: float) -> dict[str, object]:
    """Per variant: test accuracy per seed and point; for the MLP, the saturated fraction at init."""
    variants: dict[str, dict[str, object]] = {}
    for n, c in curves.items():
        variants[n] = {"test_acc": c.test_acc}
        if not any(math.isnan(s) for s in c.saturated):
            variants[n]["saturated_at_init"] = c.saturated
    return {"seconds": round(seconds, 2), "variants": variants}
