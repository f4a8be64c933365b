"""``actlab list``, ``actlab show NAME``, ``actlab plot NAME...``: the activation catalog.

Thin over :mod:`actlab.catalog`: every number printed comes from the spec (declared properties,
checked against the function by the catalog tests; ``*`` marks properties of user-registered
entries that were measured numerically instead of declared).
"""

from __future__ import annotations

import difflib
import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer

from actlab.cli import console, fail, parse_act_params

_SATURATION_KINDS = ("none", "soft", "hard")


def register(app: typer.Typer) -> None:
    app.command("list")(list_cmd)
    app.command("show")(show_cmd)
    app.command("plot")(plot_cmd)


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def _canonical(name: str) -> str:
    """Canonical name, or a one-line error naming the close matches (or every valid name)."""
    import actlab

    try:
        return actlab.canonical(name)
    except (KeyError, TypeError):
        pass
    close = difflib.get_close_matches(name.strip().lower().replace("-", "_"),
                                      actlab.names(include_aliases=True), n=3, cutoff=0.5)
    if close:
        fail(f"unknown activation {name!r}; did you mean {', '.join(close)}? "
             "(`actlab list` shows all)")
    fail(f"unknown activation {name!r}; valid: {', '.join(actlab.names())}")
    raise AssertionError  # fail() exits


def _jsonable(obj: Any) -> Any:
    """Strict JSON: +-inf -> "inf"/"-inf", NaN -> null, tuples -> lists (recursively)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj


def _num(v: float, digits: int = 4) -> str:
    if v == math.inf:
        return "inf"
    if v == -math.inf:
        return "-inf"
    return f"{v:.{digits}g}"


def _fixed_points(intervals: tuple[tuple[float, float], ...]) -> str:
    """Isolated points as numbers, intervals as [a, b] (open at an infinite end)."""
    parts = []
    for a, b in intervals:
        if a == b:
            parts.append(_num(a, 10))
        else:
            parts.append(("(" if a == -math.inf else "[") + f"{_num(a, 10)}, {_num(b, 10)}"
                         + (")" if b == math.inf else "]"))
    return ", ".join(parts) or "none"


def _smooth(k: float) -> str:
    """Short smoothness class: disc. (discontinuous), C0 (kinks), C1, ..., Cinf."""
    return {-1: "disc.", 0: "C0"}.get(k, "Cinf" if k == math.inf else f"C{k:g}")


def _yes(flag: bool, no: str = "-") -> str:
    return "yes" if flag else no


def _plain(text: str) -> Any:
    """A table cell shown as is: brackets in names, ranges or docs are not Rich markup."""
    from rich.text import Text

    return Text(text)




def _star(props: Any, field: str) -> str:
    return "*" if field in props.measured else ""


# ---------------------------------------------------------------------------------------------
# actlab list
# ---------------------------------------------------------------------------------------------
def list_cmd(
    stochastic: Annotated[bool | None, typer.Option(
        "--stochastic/--deterministic", help="Only entries that draw random numbers in training "
        "(or only those that do not).")] = None,
    learnable: Annotated[bool | None, typer.Option(
        "--learnable/--fixed", help="Only entries with trainable parameters (or without).")] = None,
    monotonic: Annotated[bool | None, typer.Option(
        "--monotonic/--non-monotonic", help="Only monotonic entries (or only non-monotonic).")] = None,
    saturation: Annotated[str | None, typer.Option(
        help="Only entries saturating this way on at least one side: none, soft or hard.")] = None,
    torch_only: Annotated[bool, typer.Option(
        "--torch", help="Only entries with a PyTorch equivalent.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the specs as JSON.")] = False,
) -> None:
    """Table of the activation catalog: range, saturation (left/right), sup |f'|, monotonic, zero-centred,
    learnable, stochastic.

    \b
    actlab list                       every entry
    actlab list --stochastic          rrelu, noisy_relu, the noisy units
    actlab list --saturation hard     entries whose f' is exactly 0 beyond a threshold
    actlab list --json                the full specs, machine-readable
    """
    import actlab

    if saturation is not None and saturation not in _SATURATION_KINDS:
        fail(f"--saturation {saturation!r} is invalid; valid: {', '.join(_SATURATION_KINDS)}")
    rows = []
    for name in actlab.names():
        s = actlab.spec(name)
        p = s.properties()
        if stochastic is not None and p.stochastic != stochastic:
            continue
        if learnable is not None and p.learnable != learnable:
            continue
        if monotonic is not None and p.monotonic != monotonic:
            continue
        if saturation is not None and saturation not in {side.kind for side in p.saturation}:
            continue
        if torch_only and not s.torch_equivalent:
            continue
        rows.append((s, p))
    if as_json:
        typer.echo(json.dumps([_jsonable(s.to_dict()) for s, _ in rows], indent=1))
        return
    if not rows:
        typer.echo("no activation matches these filters")
        return
    from rich import box
    from rich.table import Table

    t = Table(title=f"actlab catalog: {len(rows)} of {len(actlab.names())} activations "
                    "(properties at the default parameters)", title_justify="left", box=box.SIMPLE_HEAD,
              pad_edge=False, collapse_padding=True)
    con = console()
    # Columns by priority: the less important ones only when the terminal is wide enough
    # (`--json` has everything; `actlab show NAME` too).
    width = con.width
    fixed = {"no_wrap": True}
    columns: list[tuple[str, dict[str, Any], Any]] = [
        ("name", {"style": "bold", "no_wrap": True}, lambda s, p: s.name + (" (user)" if s.user else "")),
        ("aliases", {"overflow": "fold"}, lambda s, p: ", ".join(s.aliases)),
        ("range", fixed, lambda s, p: p.range_text() + _star(p, "output_range")),
        ("saturation L/R", fixed, lambda s, p: p.saturation_text() + _star(p, "saturation")),
        ("sup|f'|", {**fixed, "justify": "right"},
         lambda s, p: _num(p.sup_derivative) + _star(p, "sup_derivative")),
        ("mono", fixed, lambda s, p: _yes(p.monotonic) + _star(p, "monotonic")),
        ("0-ctr", fixed, lambda s, p: _yes(p.zero_centred) + _star(p, "zero_centred")),
        ("smooth", fixed, lambda s, p: _smooth(p.smoothness) + _star(p, "smoothness")),
        ("learn", fixed, lambda s, p: _yes(p.learnable)),
        ("stoch", fixed, lambda s, p: _yes(p.stochastic)),
        ("PyTorch", {"overflow": "fold"},
         lambda s, p: (s.torch_equivalent or "-").removeprefix("torch.nn.")),
    ]
    drop = set()
    if width < 150:
        drop.add("PyTorch")
    if width < 112 or not any(s.aliases for s, _ in rows):
        drop.add("aliases")
    if width < 100:
        drop.add("smooth")
    if width < 90:  # a standard 80-column terminal: what fits without cutting cells
        drop |= {"learn", "stoch"}
    columns = [c for c in columns if c[0] not in drop]
    for col, kw, _ in columns:
        t.add_column(col, **kw)
    for s, p in rows:
        t.add_row(*(_plain(cell(s, p)) for _, _, cell in columns))
    con.print(t)
    if any(p.measured for _, p in rows):
        con.print("* measured numerically (not declared in closed form for these parameters)")


# ---------------------------------------------------------------------------------------------
# actlab show NAME
# ---------------------------------------------------------------------------------------------
def _kink_note(s: Any, resolved: dict[str, Any], kinks: tuple[float, ...]) -> str | None:
    """What the closed-form f' returns at each kink (PyTorch autograd's value there)."""
    import torch

    if s.name == "step":
        return "f'(x) = 0 everywhere (the Dirac mass at 0 is dropped)"
    if not kinks:
        return None
    try:
        x = torch.tensor(kinks, dtype=torch.float64)
        d = s.derivative(x, **resolved).tolist()
    except (TypeError, ValueError, RuntimeError):
        return None
    values = ", ".join(f"f'({_num(k)}) = {_num(v)}" for k, v in zip(kinks, d))
    return f"{values} (the closed form returns PyTorch autograd's value at a kink)"


def show_cmd(
    name: Annotated[str, typer.Argument(help="Activation name or alias (see `actlab list`).")],
    param: Annotated[list[str] | None, typer.Option(
        help="Properties at NAME=VALUE instead of the defaults (repeatable).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the spec as JSON.")] = False,
) -> None:
    """Everything about one activation: formula, parameters, properties, PyTorch equivalent, paper.

    \b
    actlab show gelu
    actlab show leaky_relu --param negative_slope=0.2
    actlab show hard_sigmoid --json
    """
    import actlab

    s = actlab.spec(_canonical(name))
    params = parse_act_params([s.name], param)
    try:
        resolved = s.resolve(params)
        p = s.properties(**params)
    except ValueError as e:
        fail(str(e))
    if as_json:
        d = s.to_dict()
        d["resolved_params"] = resolved
        d["properties"] = p.to_dict()
        typer.echo(json.dumps(_jsonable(d), indent=1))
        return
    from rich.table import Table

    con = console()
    from rich.markup import escape

    con.print(f"[bold]{escape(s.name)}[/bold]"
              + escape((f"  (aliases: {', '.join(s.aliases)})" if s.aliases else "")
                       + ("  [user-registered]" if s.user else "")))
    if s.doc:
        con.print(s.doc, highlight=False, markup=False)
    con.print(f"formula (LaTeX): {s.formula or '-'}", highlight=False, markup=False)
    if s.params:
        t = Table(title="parameters", title_justify="left")
        for col in ("name", "default", "value shown", "valid", "meaning"):
            t.add_column(col, overflow="fold")
        for q in s.params:
            t.add_row(*map(_plain, (q.name, repr(q.default), repr(resolved[q.name]), q.range_text(),
                                    q.doc)))
        con.print(t)
    else:
        con.print("parameters: none")
    left, right = p.saturation
    t = Table(title="properties" + (" at " + ", ".join(f"{k}={v}" for k, v in params.items())
                                    if params else " at the defaults"), title_justify="left")
    t.add_column("property", style="bold", overflow="fold")
    t.add_column("value", overflow="fold")
    rows = [
        ("output range", p.range_text(), "output_range"),
        ("monotonic", _yes(p.monotonic, "no"), "monotonic"),
        ("zero-centred: E f(z) = 0, z ~ N(0, 1)", _yes(p.zero_centred, "no"), "zero_centred"),
        ("smoothness", p.smoothness_text(), "smoothness"),
        ("differentiable at 0", _yes(p.differentiable_at_0, "no"), "differentiable_at_0"),
        ("kinks", ", ".join(_num(k, 10) for k in p.kinks) or "none", "kinks"),
        ("saturation left", str(left), "saturation"),
        ("saturation right", str(right), "saturation"),
        ("sup |f'|", _num(p.sup_derivative, 10), "sup_derivative"),
        ("fixed points f(x) = x", _fixed_points(p.fixed_points), "fixed_points"),
        ("learnable", _yes(p.learnable, "no"), "learnable"),
        ("stochastic", "yes (noise in train mode only)" if p.stochastic else "no", "stochastic"),
        ("elementwise", _yes(p.elementwise, "no (mixes features)"), "elementwise"),
    ]
    for label, value, field in rows:
        t.add_row(label, _plain(value + _star(p, field)))
    note = _kink_note(s, resolved, p.kinks) if p.elementwise else None
    if note:
        t.add_row("f' at kinks", _plain(note))
    t.add_row("PyTorch equivalent", _plain(s.torch_equivalent or "none"))
    t.add_row("paper / source", _plain(s.reference or "-"))
    call = ", ".join([repr(s.name)] + [f"{k}={v!r}" for k, v in resolved.items()])
    t.add_row("module", _plain(f"actlab.get({call})"))
    con.print(t)
    if p.measured:
        con.print("* measured numerically (not declared in closed form for these parameters)")


# ---------------------------------------------------------------------------------------------
# actlab plot NAME...
# ---------------------------------------------------------------------------------------------
def plot_cmd(
    names: Annotated[list[str] | None, typer.Argument(
        help="Activation names or aliases (see `actlab list`).", show_default=False)] = None,
    all_: Annotated[bool, typer.Option(
        "--all", help="Every entry: one file per entry in --out DIR plus the overview catalog.png.")
    ] = False,
    out: Annotated[Path | None, typer.Option(
        help="Output file (.png, .svg or .pdf by suffix); a directory with --all. Default: "
        "NAME.png, or activations.png for several.")] = None,
    x_range: Annotated[tuple[float, float], typer.Option(
        "--range", help="x range LO HI.")] = (-5.0, 5.0),
    param: Annotated[list[str] | None, typer.Option(
        help="NAME=VALUE for every entry that has this parameter (repeatable).")] = None,
    columns: Annotated[int, typer.Option(help="Activations per row (two panels each).")] = 1,
    fmt: Annotated[str, typer.Option("--format", help="File format with --all: png, svg or pdf.")
                   ] = "png",
    points: Annotated[int, typer.Option(help="Grid points across the range.")] = 2001,
    samples: Annotated[int, typer.Option(
        help="Train-mode draws per x for the noise band of stochastic entries.")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of those draws.")] = 0,
) -> None:
    """Plot activations and their closed-form derivatives, side by side, one row each.

    Kinks are marked (the value the closed form returns there, open circles for one-sided
    limits), hard saturation is shaded, stochastic entries get a band of train-mode draws.

    \b
    actlab plot relu gelu silu --out acts.png
    actlab plot leaky_relu --param negative_slope=0.2 --range -3 3 --out lrelu.svg
    actlab plot --all --out plots/
    """
    import actlab
    from actlab.catalog.plot import FORMATS, plot_activations, save_figure

    names = names or []
    if all_ and names:
        fail("give activation names or --all, not both")
    if not all_ and not names:
        fail("give one or more activation names (e.g. actlab plot relu gelu) or --all --out DIR")
    for opt, value, least in (("--points", points, 2), ("--samples", samples, 1), ("--columns", columns, 1)):
        if value < least:
            fail(f"{opt} {value} is invalid; valid: an integer >= {least}")
    lo, hi = x_range
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        fail(f"--range {lo:g} {hi:g} is invalid; valid: two finite numbers LO < HI")
    canon = actlab.names() if all_ else [_canonical(n) for n in names]
    params = parse_act_params(canon, param) if param else {}
    kw = {"x_range": x_range, "n": points, "samples": samples, "seed": seed}
    try:
        if not all_:
            path = out or Path((canon[0] if len(canon) == 1 else "activations") + ".png")
            if path.suffix.lower() not in FORMATS:
                fail(f"cannot write {str(path)!r}: unknown suffix {path.suffix or '(none)'!r}; "
                     f"valid: {', '.join(FORMATS)}")
            fig = plot_activations(canon, params=params or None, columns=columns, **kw)
            typer.echo(f"wrote {save_figure(fig, path)}")
            return
        if out is None:
            fail("--all needs --out DIR (one file per entry plus catalog.png)")
        suffix = "." + fmt.lower().lstrip(".")
        if suffix not in FORMATS:
            fail(f"--format {fmt!r} is invalid; valid: {', '.join(f[1:] for f in FORMATS)}")
        if out.exists() and not out.is_dir():
            fail(f"--out {str(out)!r} is a file; with --all it must be a directory")
        if not out.exists() and out.suffix.lower() in FORMATS:
            fail(f"--out {str(out)!r} looks like a file name; with --all it is a directory (one file per "
                 f"entry plus catalog.png), e.g. --out {str(out.with_suffix(''))!r}")
        from actlab.catalog.plot import apply_params

        configs = apply_params([{"name": n} for n in canon], params)  # validates once, up front
        for cfg in configs:
            fig = plot_activations(cfg, **kw)
            save_figure(fig, out / f"{cfg['name']}{suffix}")
        overview = plot_activations(configs, columns=max(columns, 3), title="actlab catalog: f "
                                    "and its closed-form f'", **kw)
        path = save_figure(overview, out / f"catalog{suffix}")
        typer.echo(f"wrote {len(configs)} figures and the overview {path} to {out}")
    except (ValueError, TypeError) as e:
        fail(str(e).splitlines()[0] if str(e) else type(e).__name__)
