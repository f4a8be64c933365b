"""``actlab diagnose``: train a built-in MLP under actlab.watch and print the diagnosis."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import typer

from actlab.cli import fail, parse_act_params


def register(app: typer.Typer) -> None:
    @app.command("diagnose")
    def diagnose(
        act: Annotated[str, typer.Option(help="Activation (catalog name or alias).")] = "relu",
        depth: Annotated[int, typer.Option(help="Hidden layers.")] = 8,
        width: Annotated[int, typer.Option(help="Units per hidden layer.")] = 128,
        init: Annotated[str, typer.Option(help="Weight init (actlab.nets.INITS).")] = "kaiming_normal",
        gain: Annotated[float | None, typer.Option(help="Init gain (xavier/kaiming/orthogonal).")] = None,
        sigma_w2: Annotated[float | None, typer.Option(help="With --init sigma: weight variance times "
                                                       "fan-in (weights N(0, sigma_w2 / fan_in)).")] = None,
        sigma_b2: Annotated[float | None, typer.Option(help="With --init sigma: bias variance.")] = None,
        lr: Annotated[float, typer.Option(help="Learning rate.")] = 0.05,
        optimizer: Annotated[str, typer.Option(help="sgd, momentum or adam.")] = "sgd",
        steps: Annotated[int, typer.Option(help="Training steps (minibatches).")] = 300,
        batch_size: Annotated[int, typer.Option(help="Minibatch size.")] = 64,
        dataset: Annotated[str, typer.Option(help="Offline dataset (actlab.data.names()).")] = "digits",
        seed: Annotated[int, typer.Option(help="Seed of init, data split and batches.")] = 0,
        every: Annotated[int, typer.Option(help="Record one step in EVERY.")] = 1,
        window: Annotated[int, typer.Option(help="Recorded steps for dead units and verdicts.")] = 20,
        param: Annotated[list[str] | None, typer.Option(help="Activation parameter NAME=VALUE "
                                                        "(repeatable).")] = None,
        plot: Annotated[Path | None, typer.Option(help="Write the gradient-flow figure (.png/.svg/.pdf).")
                        ] = None,
        jsonl: Annotated[Path | None, typer.Option(help="Write every recorded step as JSON lines.")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    ) -> None:
        """Train an MLP on offline data under actlab.watch; print which layers vanish, explode, die.

        \b
        actlab diagnose --act sigmoid --depth 20 --init xavier_uniform --lr 0.1   vanishing
        actlab diagnose --act relu --depth 10 --gain 4 --lr 0.01                  exploding, NaN
        actlab diagnose --act relu --depth 4 --optimizer adam --lr 0.1            dead units
        actlab diagnose --act relu --depth 4 --lr 0.02                            healthy
        """
        import torch

        from actlab.watch.demo import diagnose_mlp

        torch.set_num_threads(max(1, min(torch.get_num_threads(), 4)))
        try:
            r = diagnose_mlp(act=act, depth=depth, width=width, init=init, gain=gain, sigma_w2=sigma_w2,
                             sigma_b2=sigma_b2, lr=lr, steps=steps,
                             dataset=dataset, batch_size=batch_size, optimizer=optimizer, seed=seed,
                             every=every, window=window, act_params=parse_act_params([act], param),
                             jsonl=jsonl)
        except (ValueError, TypeError, KeyError) as e:
            fail(str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e))
            return
        if plot is not None:
            try:
                r.monitor.plot(plot)
            except ValueError as e:
                fail(str(e))
        if as_json:
            d = r.summary.to_dict()
            last = r.losses[-1] if r.losses else None
            d["run"] = {"steps": r.steps, "stopped": r.stopped, "test_acc": r.test_acc,
                        "final_loss": last if last is not None and math.isfinite(last) else None}
            typer.echo(json.dumps(d, allow_nan=False))
            return
        sigmas = "".join(f" {k} {v:g}" for k, v in (("sigma_w2", sigma_w2), ("sigma_b2", sigma_b2))
                         if v is not None)
        typer.echo(f"MLP {depth}x{width} {act}, init {init}" + (f" gain {gain:g}" if gain is not None else "")
                   + sigmas
                   + f", {optimizer} lr {lr:g}, {dataset}: {r.steps} steps"
                   + (f" ({r.stopped})" if r.stopped else "")
                   + (f", test accuracy {r.test_acc:.3f}" if r.test_acc is not None else ""))
        typer.echo(r.summary.text)
        if plot is not None:
            typer.echo(f"plot: {plot}")
