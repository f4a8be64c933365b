"""The ``actlab`` command line: thin over the library, one module per concern.

Each ``actlab.cli.<concern>`` module defines ``register(app)`` adding its commands. Errors are one
line on stderr and a non-zero exit (:func:`fail`).
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import typer

app = typer.Typer(
    name="actlab",
    help="Activation functions for neural networks: catalog, noisy units, diagnostics, sweeps, "
    "theory and the claims report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _hide_flag_types() -> None:
    """Recent Typer prints a type for every option in --help, "<bool>" for on/off flags too, which
    reads as if ``--quick`` took a value (``--quick true`` is then an error). Flags show no type."""
    option = getattr(getattr(typer, "core", None), "TyperOption", None)
    shown = getattr(option, "display_type_rich", None)
    if shown is None:
        return

    def display_type_rich(self: Any, ctx: Any) -> str | None:
        return None if getattr(self, "is_flag", False) else shown(self, ctx)

    option.display_type_rich = display_type_rich


_hide_flag_types()

# Concerns whose commands the CLI offers, in help order. A module that is not there yet is skipped.
COMMAND_MODULES = ("catalog", "noisy", "watch", "sweep", "theory", "report")


def console() -> Any:
    """A Rich console for tables: the terminal's width (or ``COLUMNS`` when set), else 160 columns when
    stdout is not a terminal (a pipe or a file), where Rich would cut every table to 80 with '...'."""
    from rich.console import Console

    con = Console()
    if con.is_terminal or "COLUMNS" in os.environ:
        return con
    return Console(width=max(con.width, 160))


def fail(message: str, code: int = 2) -> None:
    """Print a one-line error and exit non-zero."""
    typer.echo(f"actlab: error: {message}", err=True)
    raise typer.Exit(code)


def parse_act_params(names: list[str], items: list[str] | None) -> dict[str, Any]:
    """``--param k=v`` -> {k: v}, each value converted to the type the entries declare for ``k``
    (int, float, bool, or one of the choices); a key no given entry has -> one-line error."""
    import actlab

    declared: dict[str, Any] = {}
    for n in names:
        for p in actlab.spec(n).params:
            declared.setdefault(p.name, p)
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            fail(f"--param {item!r} is invalid; valid: NAME=VALUE, e.g. --param negative_slope=0.2")
        key, text = (s.strip() for s in item.split("=", 1))
        if key not in declared:
            valid = ", ".join(declared) or "none (these activations have no parameters)"
            fail(f"unknown parameter {key!r} for {', '.join(names)}; valid parameters: {valid}")
        p = declared[key]
        value: Any = text
        if p.kind is bool:
            if text.lower() not in ("true", "false", "1", "0"):
                fail(f"--param {item!r}: {key} must be true or false")
            value = text.lower() in ("true", "1")
        elif p.kind in (int, float) and p.choices is None:
            try:
                value = float(text)
                if p.kind is int and value.is_integer():
                    value = int(value)
            except ValueError:
                fail(f"--param {item!r}: {key} must be a number in {p.range_text()}")
        out[key] = value
    return out


def _register_all() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"actlab.cli.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"actlab.cli.{name}":
                continue
            raise
        module.register(app)


_register_all()


def main() -> None:
    """Console-script entry point: library errors and command-line usage errors (an unknown command
    or option, a value of the wrong type) become one-line messages, exit code 2."""
    # click's UsageError (Typer vendors click in recent releases, so reach it through a public class)
    usage_error = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")
    try:
        code = app(standalone_mode=False)  # a command's return value, or typer.Exit's code
        sys.exit(code if type(code) is int else 0)
    except usage_error as e:
        ctx = getattr(e, "ctx", None)
        if type(e).__name__ == "NoArgsIsHelpError":  # a bare group: its help (Rich has printed it)
            if e.format_message():
                typer.echo(e.format_message())
            sys.exit(2)
        msg = e.format_message()
        if ctx is not None and msg.startswith("No such command") and hasattr(ctx.command, "list_commands"):
            head, _, hint = msg.rstrip(".").partition(". Did you mean ")
            hint = f" (did you mean {hint.rstrip('?')}?)" if hint else ""
            msg = f"{head}{hint}; valid: {', '.join(ctx.command.list_commands(ctx))}"
        where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        typer.echo(f"actlab: error: {msg}{where}", err=True)
        sys.exit(2)
    except typer.Abort:
        typer.echo("actlab: aborted", err=True)
        sys.exit(1)
    except BrokenPipeError:  # `actlab list | head`: the reader left; no traceback (Python's docs' recipe)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    except (ValueError, TypeError, KeyError, OSError) as e:  # OSError: paths (a file where a folder goes)
        msg = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
        typer.echo(f"actlab: error: {msg}", err=True)
        sys.exit(2)
