"""``actlab theory``: mean-field predictions of vanishing/exploding gradients and trainable depth."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer

from actlab.cli import console, fail, parse_act_params


def _num(v: float, digits: int = 6) -> str:
    if isinstance(v, float) and math.isnan(v):
        return "-"
    if isinstance(v, float) and math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return f"{v:.{digits}g}"


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    """Strict JSON: NaN -> null, +-inf -> "inf"/"-inf"."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, float) and not math.isfinite(v):
            v = None if math.isnan(v) else ("inf" if v > 0 else "-inf")
        out[k] = v
    return out




def _show_one(act: str, params: dict[str, Any], sigma_w2: float, sigma_b2: float, q0: float,
              depth: int, as_json: bool) -> None:
    from rich.table import Table

    from actlab import theory

    r = theory.analyze(act, sigma_w2, sigma_b2, q0, **params)
    if as_json:
        typer.echo(json.dumps(_jsonable({**r.as_dict(), "depth": depth,
                                         "gradient_factor": r.gradient_factor(depth)})))
        return
    t = Table(title=f"{r.activation}: sigma_w^2 = {sigma_w2:g}, sigma_b^2 = {sigma_b2:g} "
                    f"(weights N(0, sigma_w^2/fan_in))")
    t.add_column("quantity")
    t.add_column("value", justify="right")
    t.add_column("meaning")
    rows = [
        ("phase", r.phase, "ordered: vanishing gradients; chaotic: exploding; critical: neither"),
        ("q*", _num(r.q_star), "fixed point of the pre-activation variance (inf: grows without bound)"),
        ("chi_1", _num(r.chi1), "per-layer factor of the squared gradient norm, going back"),
        ("1/chi_1", _num(r.gradient_ratio), "|grad h^{l+1}|^2 / |grad h^l|^2"),
        ("c*", _num(r.c_star), "fixed point of the correlation between two inputs"),
        ("chi_c", _num(r.chi_c), "slope of the correlation map at c*"),
        ("xi_q", _num(r.xi_q, 4), "depth scale of the variance (layers)"),
        ("xi_c", _num(r.xi_c, 4), "depth scale of correlations (layers)"),
        ("xi_grad", _num(r.xi_grad, 4), "gradient depth scale 1/|log chi_1| (layers)"),
        ("max depth", _num(r.max_depth, 4),
         "trainable depth ~6 xi_c (Schoenholz et al. 2017)" if math.isfinite(r.xi_c)
         else "trainable depth ~6 xi_grad (q unbounded: xi_c undefined)"),
    ]
    for row in rows:
        t.add_row(*row)
    con = console()
    con.print(t)
    g = r.gradient_factor(depth)
    verdict = "should train" if depth <= r.max_depth else "is predicted NOT to train"
    con.print(f"A {depth}-layer net {verdict} (trainable depth ~{_num(r.max_depth, 3)}); the squared "
              f"gradient norm at its first layer is {_num(g, 3)} x that at its last (chi_1^{depth}).")


def _show_inits(act: str, params: dict[str, Any], sigma_b2: float) -> None:
    from rich.table import Table

    from actlab import theory

    rows = theory.compare([theory.activation(act, **params)], sigma_b2=sigma_b2)
    _compare_table(rows, sigma_b2)
    try:
        ci = theory.critical_init(act, sigma_b2=sigma_b2, **params)
    except ValueError as e:
        console().print(str(e))
        return
    t = Table(title="critical initialisation")
    for col in ("sigma_w^2", "sigma_b^2", "q*", "chi_1"):
        t.add_column(col, justify="right")
    t.add_row(_num(ci.sigma_w2), _num(ci.sigma_b2), _num(ci.q_star), _num(ci.chi1))
    console().print(t)


def _compare_table(rows: list[dict[str, Any]], sigma_b2: float) -> None:
    from rich.table import Table

    from actlab.theory import INITS

    inits = ", ".join(f"{n} = ({sw:.3g}, {sb:g})" for n, (sw, sb) in INITS.items())
    t = Table(title=f"Critical sigma_w^2 at sigma_b^2 = {sigma_b2:g}, and chi_1 / trainable depth "
                    f"(6 xi_c) at common inits (sigma_w^2, sigma_b^2): {inits}")
    t.add_column("activation")
    t.add_column("critical\nsigma_w^2", justify="right")
    t.add_column("q* there", justify="right")
    for name in INITS:
        t.add_column(f"{name}\nchi_1 / depth", justify="right", overflow="fold")
    for r in rows:
        cells = [r["activation"], _num(r["critical_sigma_w2"], 5), _num(r["critical_q_star"], 4)]
        for name in INITS:
            cells.append(f"{_num(r[f'chi1_{name}'], 3)} / {_num(r[f'max_depth_{name}'], 3)}")
        t.add_row(*cells)
    console().print(t)


def register(app: typer.Typer) -> None:
    @app.command("theory")
    def theory_cmd(
        acts: Annotated[list[str] | None,
                        typer.Argument(help="Activation name(s).", metavar="ACT...")] = None,
        sigma_w2: Annotated[float | None, typer.Option("--sigma-w2", help="Weight variance x fan-in "
                                                       "(He: 2, LeCun: 1).")] = None,
        sigma_b2: Annotated[float, typer.Option("--sigma-b2", help="Bias variance.")] = 0.0,
        q0: Annotated[float, typer.Option(help="Variance of the first pre-activations.")] = 1.0,
        param: Annotated[list[str] | None, typer.Option(help="Activation parameter NAME=VALUE "
                                                         "(repeatable).")] = None,
        depth: Annotated[int, typer.Option(help="Depth for the verdict and for --measure.")] = 50,
        phase_diagram: Annotated[bool, typer.Option("--phase-diagram", help="Draw the sigma_w^2 x "
                                                    "sigma_b^2 phase diagram to --out.")] = False,
        compare: Annotated[bool, typer.Option("--compare", help="Tabulate critical inits of several "
                                              "activations.")] = False,
        measure: Annotated[bool, typer.Option("--measure", help="Also measure q^l and gradient ratios "
                                              "in a random net of --width x --depth.")] = False,
        isometry: Annotated[bool, typer.Option("--isometry", help="Draw Jacobian singular values (tanh "
                                               "vs relu, orthogonal vs Gaussian) to --out.")] = False,
        width: Annotated[int, typer.Option(help="Width for --measure / --isometry.")] = 1000,
        resolution: Annotated[int, typer.Option(help="Grid points per axis of --phase-diagram.")] = 80,
        out: Annotated[Path | None, typer.Option(help="Figure file (.png, .pdf, .svg).")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """Mean-field theory: will a deep net with this activation and init train?

        \b
        actlab theory tanh --sigma-w2 1 --sigma-b2 0.05   one init
        actlab theory tanh                                critical and common inits
        actlab theory tanh --phase-diagram --out pd.png   phase diagram
        actlab theory --compare tanh relu selu gelu       several activations
        """
        from actlab import theory

        acts = acts or []
        params = parse_act_params(acts, param)
        if depth < 1 or width < 1:
            fail("--depth and --width must be >= 1")
        if isometry:
            if out is None:
                fail("--isometry needs --out FILE (.png, .pdf or .svg)")
            from actlab.theory.plots import plot_spectra

            spectra = theory.dynamical_isometry(width=min(width, 256), depth=min(depth, 32))
            path = plot_spectra(spectra, out)
            for s in spectra:
                typer.echo(f"{s.label}: Var(s^2)/E[s^2]^2 = {s.nvar_sq:.4g} "
                           f"(theory {s.nvar_sq_predicted:.4g})")
            typer.echo(f"wrote {path}")
            return
        if compare:
            if not acts:
                fail("--compare needs activation names, e.g. actlab theory --compare tanh relu selu")
            rows = theory.compare([theory.activation(a, **params) for a in acts], sigma_b2=sigma_b2)
            if as_json:
                typer.echo(json.dumps([_jsonable(r) for r in rows]))
            else:
                _compare_table(rows, sigma_b2)
            return
        if len(acts) != 1:
            fail("give one activation (or --compare with several), e.g. actlab theory tanh")
        act = acts[0]
        if phase_diagram:
            if out is None:
                fail("--phase-diagram needs --out FILE (.png, .pdf or .svg)")
            from actlab.theory.plots import plot_phase_diagram

            if resolution < 2:
                fail(f"--resolution {resolution} is invalid; valid: an integer >= 2")
            pd = theory.phase_diagram(act, n=resolution, **params)
            typer.echo(f"wrote {plot_phase_diagram(pd, out)}")
            return
        if sigma_w2 is None:
            _show_inits(act, params, sigma_b2)
            return
        _show_one(act, params, sigma_w2, sigma_b2, q0, depth, as_json)
        if measure:
            chk = theory.propagation(act, sigma_w2, sigma_b2, width=width, depth=depth, q0=q0, **params)
            s = chk.summary()
            typer.echo(f"measured in one random net (width {width}, depth {depth}): mean q^l "
                       f"{s['q_mean_measured']:.4g} (theory {s['q_mean_predicted']:.4g}); per-layer "
                       f"|grad|^2 ratio {s['grad_ratio_measured']:.4g} (theory "
                       f"{s['grad_ratio_predicted']:.4g}, 1/chi_1 = {s['inv_chi1']:.4g})")
