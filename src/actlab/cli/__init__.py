"""The ``actlab`` command line: thin over the library, one module per concern.

Each ``actlab.cli.<concern>`` module defines ``register(app)`` adding its commands. Errors are one
line on stderr and a non-zero exit (:func:`fail`).
"""

from __future__ import annotations

import importlib
import sys

import typer

app = typer.Typer(
    name="actlab",
    help="Activation functions for neural networks: catalog, noisy units, diagnostics, sweeps, "
    "theory and the claims report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Concerns whose commands the CLI offers, in help order. A module that is not there yet is skipped.
COMMAND_MODULES = ("catalog", "noisy", "watch", "sweep", "theory", "report")


def fail(message: str, code: int = 2) -> None:
    """Print a one-line error and exit non-zero."""
    typer.echo(f"actlab: error: {message}", err=True)
    raise typer.Exit(code)


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
    """Console-script entry point: library errors become one-line messages, exit code 2."""
    try:
        app()
    except (ValueError, TypeError, KeyError, FileNotFoundError) as e:
        msg = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
        typer.echo(f"actlab: error: {msg}", err=True)
        sys.exit(2)
