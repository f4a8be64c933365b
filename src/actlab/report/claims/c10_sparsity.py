r"""C10 - ReLU gives sparse activations: with zero-centred random init about half of the units output
exactly 0, unlike sigmoid/tanh, which are never exactly 0.

Tutorial 001: "when weights are initialised to small zero-centred random values, by default half of the
units in the network output zero"; "ReLU can output a true zero, unlike tanh and sigmoid, which learn
to approximate a zero output - a value very close to zero but not a true zero". 004: "with random
initialisation only about half of the hidden units are active, the rest output 0".

Measured on all training digits through 4-hidden-layer MLPs of width 64 at initialisation (PyTorch's
default init, whose biases are uniform around 0, and Xavier- and He-normal with zero biases - all
zero-centred), 3 seeds each: the fraction of hidden outputs that are exactly 0.0 (float32), per layer;
how that splits by unit (a unit that is 0 for every input is dead from the start); and the same count for
sigmoid and tanh. A positive bias (0.1, claim C13's advice) is shown for contrast but is not zero-centred.
Plus where float32 sigmoid *does* return exactly 0 (:math:`e^{-x}` overflows), found by bisection over
float32 values.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from actlab import nets
from actlab.report.claim import CONFIRMED, DEPENDS, REFUTED, Claim, Context, Evidence, Table, Verdict
from actlab.report.claims._stats import sample_std
from actlab.sweep.trial import load_data

#: "about half": the mean exact-zero fraction of every zero-centred relu setting lies in this interval.
HALF = (0.4, 0.6)
DEPTH, WIDTH = 4, 64
INITS: dict[str, dict[str, Any]] = {"default": {}, "xavier_normal": {}, "kaiming_normal": {},
                                    "kaiming_normal, bias 0.1": {"init": "kaiming_normal", "bias_init": 0.1}}


def hidden_outputs(model: nn.Sequential, x: torch.Tensor) -> list[torch.Tensor]:
    """The output of every hidden activation module of an MLP built by :func:`actlab.nets.mlp`."""
    outs, h = [], x
    mods = list(model)
    for i, m in enumerate(mods):
        h = m(h)
        if i + 1 < len(mods) and isinstance(mods[i + 1], nn.Linear) and not isinstance(m, nn.Linear):
            outs.append(h)
    return outs


def sigmoid_zero_threshold() -> float:
    """The largest float32 x with sigmoid(x) == 0 exactly (bisection over float32 values)."""
    lo, hi = -1000.0, 0.0  # sigmoid(lo) == 0, sigmoid(hi) > 0
    for _ in range(200):
        mid = float(np.float32((lo + hi) / 2))
        if mid in (lo, hi):
            break
        if float(torch.sigmoid(torch.tensor(mid, dtype=torch.float32))) == 0.0:
            lo = mid
        else:
            hi = mid
    return lo


def measure(ctx: Context) -> Evidence:
    ds = load_data("digits", True, 0, 0.25)
    x = ds.x_train
    seeds = ctx.seeds(3, 10, 1)
    relu: dict[str, dict[str, Any]] = {}
    with torch.no_grad():
        for name, kw in INITS.items():
            kw = {"init": name, **kw} if "init" not in kw else kw
            per_layer, dead, always = [], [], []
            for s in seeds:
                outs = hidden_outputs(nets.mlp(64, 10, DEPTH, WIDTH, "relu", seed=s, **kw), x)
                per_layer.append([float((o == 0).float().mean()) for o in outs])
                dead.append(float(np.mean([float((o == 0).all(0).float().mean()) for o in outs])))
                always.append(float(np.mean([float((o > 0).all(0).float().mean()) for o in outs])))
            pl = np.mean(per_layer, 0)
            relu[name] = {"zero_fraction": float(np.mean(per_layer)),
                          "zero_fraction_std": sample_std([np.mean(p) for p in per_layer]),
                          "per_layer": pl.tolist(), "dead_units": float(np.mean(dead)),
                "always_active_units": float(np.mean(always)), "zero_centred": "bias" not in name}
        smooth = {}
        for act in ("sigmoid", "tanh"):
            zeros, total, mins = 0, 0, []
            for s in seeds:
                for o in hidden_outputs(nets.mlp(64, 10, DEPTH, WIDTH, act, seed=s), x):
                    zeros += int((o == 0).sum())
                    total += o.numel()
                    mins.append(float(o.abs().min()))
            smooth[act] = {"exact_zeros": zeros, "values": total, "min_abs_output": min(mins)}
        # one example unit per layer: its outputs over all inputs, for the figure
        outs = hidden_outputs(nets.mlp(64, 10, DEPTH, WIDTH, "relu", init="default", seed=0), x)
        per_unit = [float(v) for v in (outs[-1] == 0).float().mean(0)]
        sample_sig = hidden_outputs(nets.mlp(64, 10, DEPTH, WIDTH, "sigmoid", seed=0), x)[-1].flatten()
    numbers: dict[str, Any] = {"relu": relu, "smooth": smooth, "half": list(HALF),
                               "sigmoid_float32_zero_below": sigmoid_zero_threshold(), "depth": DEPTH}

    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(8.5, 3.3))
    layers = np.arange(1, DEPTH + 1)
    for k, (name, r) in enumerate(relu.items()):
        a.plot(layers, r["per_layer"], "o-" if r["zero_centred"] else "s--", color=f"C{k}",
               label=f"relu, {name}: {r['zero_fraction']:.3f}")
    for k, act in enumerate(smooth):
        a.plot(layers, [0.0] * DEPTH, "x:", color=f"C{k + 5}", label=f"{act}: {smooth[act]['exact_zeros']} "
                                                                     f"exact zeros")
    a.axhspan(*HALF, color="k", alpha=0.06)
    a.set(xlabel="hidden layer", ylabel="fraction of outputs exactly 0", ylim=(-0.03, 1), title="at init, "
                                                                                                "all digits")
    a.legend(fontsize=6)
    b.hist(per_unit, bins=20, range=(0, 1), color="C0", alpha=0.7, label="relu units (default init, layer 4)")
    b.set(xlabel="fraction of inputs on which a unit outputs 0", ylabel="units",
          title=f"per unit; sigmoid min output {float(sample_sig.min()):.2g}")
    b.legend(fontsize=7)
    fig.tight_layout()
    figure = ctx.figure(fig, "Left: share of hidden outputs that are exactly 0.0 at init, per layer; "
                             f"the grey band is 'about half' ({HALF[0]}-{HALF[1]}); dashed: a 0.1 bias "
                             "(not zero-centred). sigmoid and tanh (crosses) give no exact zero at all. "
                             "Right: per unit the share varies widely - half of all outputs are 0, not "
                             "each unit half of the time; some units are 0 (or active) for almost every "
                             "input.")
    rows = [[f"relu, {n}", f"{r['zero_fraction']:.3f} ± {r['zero_fraction_std']:.3f}",
             f"{r['dead_units']:.3f}",
             f"{r['always_active_units']:.3f}"] for n, r in relu.items()]
    rows += [[a, f"{s['exact_zeros']} of {s['values']}", "-", "-"] for a, s in smooth.items()]
    table = Table(["network", "outputs exactly 0", "units 0 on every input", "units never 0"], rows,
                  f"{DEPTH} hidden layers of {WIDTH}, all {len(x)} training digits, {len(seeds)} seed(s).")
    return Evidence(numbers, {"dataset": "digits (training split)", "depth": DEPTH, "width": WIDTH,
                              "inits": INITS,
                              "seeds": seeds}, [figure], [table],
                    notes=f"float32 sigmoid returns exactly 0 only below x = "
                          f"{numbers['sigmoid_float32_zero_below']:.6g} "
                          "(exp(-x) overflows to inf), and tanh only at x = 0 - inputs a network practically "
                          "never "
                          "produces.")


def decide(numbers: dict[str, Any], quick: bool) -> Verdict:
    """Confirmed if every zero-centred relu setting has a mean exact-zero fraction within ``half`` and
    sigmoid/tanh produce no exact zeros; depends if only some relu settings do; refuted otherwise."""
    lo, hi = numbers["half"]
    zc = {n: r for n, r in numbers["relu"].items() if r["zero_centred"]}
    inside = {n: r["zero_fraction"] for n, r in zc.items() if lo <= r["zero_fraction"] <= hi}
    outside = {n: r["zero_fraction"] for n, r in zc.items() if n not in inside}
    zeros = {a: s["exact_zeros"] for a, s in numbers["smooth"].items()}
    fmt = ", ".join(f"{n} {r['zero_fraction']:.3f}" for n, r in numbers["relu"].items())
    smooth = ", ".join(f"{a} {z} exact zeros" for a, z in zeros.items())
    if any(zeros.values()) or not inside:
        return Verdict(REFUTED, f"Exact-zero fractions: relu {fmt}; {smooth}.")
    if outside:
        return Verdict(DEPENDS, f"About half only for some inits: relu {fmt} (outside {lo}-{hi}: "
                                f"{', '.join(outside)}); {smooth}.")
    return Verdict(CONFIRMED, f"Zero-centred relu nets output exactly 0 for about half of the values "
                              f"({fmt}); "
                              f"{smooth}.")


CLAIM = Claim(
    id="C10",
    title="relu: half the units exactly 0; sigmoid/tanh never",
    rule=f"Count exact float32 zeros in the hidden outputs of {DEPTH}-layer MLPs at init on all training "
         f"digits. "
         f"Confirmed if relu's mean fraction lies in [{HALF[0]}, {HALF[1]}] for every zero-centred init "
         f"(PyTorch "
         "default, Xavier, He) and sigmoid/tanh give no exact zero; depends if only some inits do; refuted "
         "if "
         "none does or sigmoid/tanh give zeros. (A 0.1 bias is shown, not judged.)",
    measure=measure,
    decide=decide,
)
