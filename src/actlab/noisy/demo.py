r"""Two small demonstrations of the noisy units (issue 3, part 6); ``actlab demo noisy`` runs them.

**Saturated digits MLP.** A 2-hidden-layer MLP (width 64) on scikit-learn's bundled digits
(fixed stratified split, 1347 train / 450 test), PyTorch's default weight init and every hidden
bias set to ``bias`` (default 2), so that most hidden units start saturated at +1 (with bias 2,
about 97% of the first layer's pre-activations exceed 1 on the training set: :func:`digits_demo`
measures and returns it). SGD with momentum 0.9, lr 0.05, batch 64. Variants:

* ``tanh``: the soft unit (saturates only softly: a small but non-zero gradient everywhere);
* ``hard_tanh``: the plain hard unit, gradient exactly 0 beyond +-1;
* ``nan``: ``nan_hard_tanh`` (alpha 1.15, p learned per unit, normal noise) with c annealed
  exponentially from 30 to 0.5 over the run, the paper's range:
  ``NoiseAnnealer(model, "exponential", start=30.0, end=0.5, steps=T)``;
* ``nan_c0``: the same unit with c = 0 throughout, i.e. only the alpha-mix
  alpha h + (1 - alpha) u, whose slope beyond the thresholds is 1 - alpha = -0.15: the ablation
  that separates what the noise adds from what the leak does;
* ``nani``: ``nani_hard_tanh`` (noise on the input, h(x + c xi)) with c annealed linearly from 1
  to 0.

Test accuracy is measured in eval mode (deterministic: xi -> E[xi] = 0) at every epoch, epoch 0
being the initialisation; results are mean +- std over seeds 0..seeds-1, and :func:`summary` lists
per seed the first epoch at which each variant reaches a given accuracy. The effect is one of early
speed and depends on c: with c annealed linearly from 1 to 0 (instead of 30 to 0.5), NAN learned
no faster than plain hard_tanh in our 5-seed runs (see the README's noisy section for tables).

**Counting unique integers** (Gulcehre et al. 2016, section 7, reduced to run in minutes on two
CPU cores): an LSTM (hidden 32, forget-gate bias 1 for every variant, Jozefowicz et al. 2015) reads
a sequence of ``length`` integers drawn uniformly from ``range(vocab)`` (one-hot; default 6 and 6)
and classifies how many distinct values it contained (classes 1..min(length, vocab); predicting the
most frequent class scores 50% at 6/6); Adam, lr 0.01, batch 64, fresh batches every step, a fixed
test set of 2000 sequences. Gates/candidates: sigmoid/tanh, hard_sigmoid/hard_tanh (slope 1/4), and
nan_hard_sigmoid/nan_hard_tanh (the authors' defaults, p per unit) with c scaled from its default
to 0 linearly (``relative=True``). With length = vocab = 10 none of the variants left the
majority-class plateau within 1500 steps in our runs, hence the smaller default.

Every run is seeded (weights, data order, noise: ``torch.manual_seed(seed)`` in its own process,
one torch thread), so equal arguments give equal numbers.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

#: Digits variants: the catalog entry, its parameters ("per_unit": one p per hidden unit) and the
#: annealing schedule of c (None: c fixed). ``steps`` of a schedule is filled in: the whole run.
DIGITS_VARIANTS: dict[str, dict[str, Any]] = {
    "tanh": {"act": "tanh"},
    "hard_tanh": {"act": "hard_tanh"},
    "nan": {"act": "nan_hard_tanh", "params": {"c": 30.0}, "per_unit": True,
            "anneal": {"kind": "exponential", "start": 30.0, "end": 0.5}},
    "nan_c0": {"act": "nan_hard_tanh", "params": {"c": 0.0}, "per_unit": True},
    "nani": {"act": "nani_hard_tanh", "params": {"c": 1.0},
             "anneal": {"kind": "linear", "start": 1.0, "end": 0.0}},
}

#: Counting variants: gate and candidate entries; "anneal": c scaled from its default to 0.
COUNTING_VARIANTS: dict[str, dict[str, Any]] = {
    "sigmoid/tanh": {"gate": "sigmoid", "candidate": "tanh"},
    "hard": {"gate": "hard_sigmoid", "candidate": "hard_tanh"},
    "noisy hard": {"gate": "nan_hard_sigmoid", "candidate": "nan_hard_tanh", "per_unit": True,
                   "anneal": {"kind": "linear", "start": 1.0, "end": 0.0}},
}


@dataclass
class Curves:
    """Metrics of one variant over seeds: ``test_acc[seed][point]`` (point 0: at init)."""

    name: str
    test_acc: list[list[float]] = field(default_factory=list)
    train_loss: list[list[float]] = field(default_factory=list)  # [seed][point]; point 0: nan
    saturated: list[float] = field(default_factory=list)  # [seed]: fraction |pre-act| > 1 at init

    def mean_std(self, point: int, metric: str = "test_acc") -> tuple[float, float]:
        """Mean and sample std over seeds at one point (std 0 for a single seed)."""
        vals = [run[point] for run in getattr(self, metric)]
        return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else 0.0)

    def first_reaching(self, threshold: float) -> list[int | None]:
        """Per seed, the first point whose test accuracy is >= threshold (None: never)."""
        return [next((i for i, a in enumerate(run) if a >= threshold), None) for run in self.test_acc]


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name}={value!r} is invalid; valid: an integer >= {low}")
    return value


def _check_variants(names: Sequence[str] | None, table: dict[str, dict[str, Any]], task: str) -> list[str]:
    chosen = list(table) if names is None else list(names)
    if not chosen:
        raise ValueError(f"{task}: no variant chosen; valid: {', '.join(table)}")
    for v in chosen:
        if v not in table:
            raise ValueError(f"unknown {task} variant {v!r}; valid: {', '.join(table)}")
    return chosen


def _act_config(cfg: dict[str, Any], key: str, units: int) -> str | dict[str, Any]:
    name = cfg[key]
    params = dict(cfg.get("params", {}))
    if cfg.get("per_unit"):
        params["num_parameters"] = units
    return {"name": name, **params} if params else name


def _annealer(model: nn.Module, cfg: dict[str, Any], steps: int, relative: bool = False) -> Any:
    from actlab.noisy.annealing import NoiseAnnealer

    if not cfg.get("anneal"):
        return None
    return NoiseAnnealer(model, {**cfg["anneal"], "steps": steps}, relative=relative)


# ---------------------------------------------------------------------------------------------
# saturated digits MLP
# ---------------------------------------------------------------------------------------------
def digits_run(job: tuple[str, dict[str, Any], int, int, float, int, float]
               ) -> tuple[str, list[float], list[float], float]:
    """One run of the saturated digits MLP: ``job = (variant, cfg, seed, epochs, bias, width, lr)``
    (``cfg`` one of :data:`DIGITS_VARIANTS`) -> (variant, test accuracy per epoch, train loss per
    epoch, fraction of first-layer units saturated at initialisation). Used by the report's C23."""
    variant, cfg, seed, epochs, bias, width, lr = job
    from actlab import data, nets

    torch.set_num_threads(1)
    ds = data.load("digits", seed=0)
    torch.manual_seed(seed)
    model = nets.mlp(ds.n_features, ds.n_classes, depth=2, width=width,
                     act=_act_config(cfg, "act", width), bias_init=bias, seed=seed)
    with torch.no_grad():  # fraction of first-layer pre-activations beyond the thresholds at init
        saturated = (model[0](ds.x_train).abs() > 1.0).float().mean().item()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    batch = 64
    steps_per_epoch = math.ceil(len(ds.y_train) / batch)
    annealer = _annealer(model, cfg, epochs * steps_per_epoch)
    g = torch.Generator().manual_seed(seed)

    def test_acc() -> float:
        model.eval()
        with torch.no_grad():
            acc = (model(ds.x_test).argmax(1) == ds.y_test).float().mean().item()
        model.train()
        return acc

    accs, losses = [test_acc()], [math.nan]
    for _ in range(epochs):
        perm = torch.randperm(len(ds.y_train), generator=g)
        total = 0.0
        for i in range(0, len(perm), batch):
            idx = perm[i:i + batch]
            loss = F.cross_entropy(model(ds.x_train[idx]), ds.y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            if annealer is not None:
                annealer.step()
            total += loss.item() * len(idx)
        losses.append(total / len(perm))
        accs.append(test_acc())
    return variant, accs, losses, saturated


def digits_demo(seeds: int = 5, epochs: int = 12, bias: float = 2.0, width: int = 64,
                lr: float = 0.05, variants: Sequence[str] | None = None,
                workers: int = 2) -> dict[str, Curves]:
    """Train every variant with seeds 0..seeds-1 for ``epochs`` epochs; their curves (point 0: at
    init, then one per epoch), in ``variants`` order."""
    _check_int("seeds", seeds, 1)
    _check_int("epochs", epochs, 1)
    _check_int("width", width, 1)
    _check_int("workers", workers, 1)
    if not (isinstance(bias, (int, float)) and math.isfinite(bias)):
        raise ValueError(f"bias={bias!r} is invalid; valid: a finite number")
    if not (isinstance(lr, (int, float)) and lr > 0):
        raise ValueError(f"lr={lr!r} is invalid; valid: a number > 0")
    names = _check_variants(variants, DIGITS_VARIANTS, "digits")
    jobs = [(v, DIGITS_VARIANTS[v], s, epochs, float(bias), width, float(lr))
            for v in names for s in range(seeds)]
    return _collect(digits_run, jobs, names, workers)


# ---------------------------------------------------------------------------------------------
# counting unique integers
# ---------------------------------------------------------------------------------------------
def counting_batch(n: int, length: int, vocab: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` sequences of ``length`` integers uniform in ``range(vocab)``: (one-hot, shape
    (n, length, vocab); number of distinct values - 1, shape (n,))."""
    seq = torch.randint(0, vocab, (n, length), generator=g)
    onehot = F.one_hot(seq, vocab)
    distinct = onehot.amax(dim=1).sum(dim=1)
    return onehot.float(), distinct - 1


class _Counter(nn.Module):
    def __init__(self, vocab: int, length: int, hidden: int, gate: Any, candidate: Any,
                 forget_bias: float = 1.0) -> None:
        super().__init__()
        from actlab.noisy.recurrent import LSTM

        self.lstm = LSTM(vocab, hidden, batch_first=True, gate_activation=gate,
                         candidate_activation=candidate)
        cell = self.lstm.cells[0]
        with torch.no_grad():  # gates i, f, g, o: the forget gate's total bias is forget_bias
            cell.bias_ih[hidden:2 * hidden].fill_(forget_bias)
            cell.bias_hh[hidden:2 * hidden].zero_()
        self.head = nn.Linear(hidden, min(length, vocab))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


def _counting_run(job: tuple[str, dict[str, Any], int, int, int, int, int, int, float]
                  ) -> tuple[str, list[float], list[float], float]:
    variant, cfg, seed, steps, length, vocab, hidden, evals, lr = job
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    model = _Counter(vocab, length, hidden, _act_config(cfg, "gate", hidden),
                     _act_config(cfg, "candidate", hidden))
    annealer = _annealer(model, cfg, steps, relative=True)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(1000 + seed)
    x_test, y_test = counting_batch(2000, length, vocab, torch.Generator().manual_seed(99))
    every = max(1, steps // evals)

    def test_acc() -> float:
        model.eval()
        with torch.no_grad():
            acc = (model(x_test).argmax(1) == y_test).float().mean().item()
        model.train()
        return acc

    accs, losses, running = [test_acc()], [math.nan], []
    for step in range(1, steps + 1):
        x, y = counting_batch(64, length, vocab, g)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if annealer is not None:
            annealer.step()
        running.append(loss.item())
        if step % every == 0 and len(accs) <= evals:
            accs.append(test_acc())
            losses.append(statistics.fmean(running))
            running = []
    return variant, accs, losses, math.nan


def counting_demo(seeds: int = 3, steps: int = 1500, length: int = 6, vocab: int = 6,
                  hidden: int = 32, evals: int = 6, lr: float = 0.01,
                  variants: Sequence[str] | None = None, workers: int = 2) -> dict[str, Curves]:
    """The counting task for every variant and seeds 0..seeds-1: test accuracy at init and after
    every ``steps // evals`` steps (``evals + 1`` points)."""
    for name, value, low in (("seeds", seeds, 1), ("length", length, 2), ("vocab", vocab, 2),
                             ("hidden", hidden, 1), ("evals", evals, 1), ("workers", workers, 1)):
        _check_int(name, value, low)
    _check_int("steps", steps, evals)
    if not (isinstance(lr, (int, float)) and lr > 0):
        raise ValueError(f"lr={lr!r} is invalid; valid: a number > 0")
    names = _check_variants(variants, COUNTING_VARIANTS, "counting")
    jobs = [(v, COUNTING_VARIANTS[v], s, steps, length, vocab, hidden, evals, float(lr))
            for v in names for s in range(seeds)]
    return _collect(_counting_run, jobs, names, workers)


# ---------------------------------------------------------------------------------------------
# running and reporting
# ---------------------------------------------------------------------------------------------
def _collect(fn: Callable[[Any], tuple[str, list[float], list[float], float]], jobs: list,
             names: list[str], workers: int) -> dict[str, Curves]:
    """Run the jobs (in ``workers`` spawned processes, one torch thread each); results are
    gathered in job order, so they do not depend on ``workers``."""
    if workers > 1 and len(jobs) > 1:
        with mp.get_context("spawn").Pool(min(workers, len(jobs))) as pool:
            results = pool.map(fn, jobs)
    else:
        results = [fn(j) for j in jobs]
    curves = {n: Curves(n) for n in names}
    for variant, accs, losses, saturated in results:
        curves[variant].test_acc.append(accs)
        curves[variant].train_loss.append(losses)
        curves[variant].saturated.append(saturated)
    return curves


def format_table(curves: dict[str, Curves], label: str = "epoch", points: Sequence[int] | None = None,
                 scale: int = 1) -> str:
    """Test accuracy (%) mean +- std over seeds: one row per point (labelled ``point * scale``),
    one column per variant."""
    names = list(curves)
    n_points = len(curves[names[0]].test_acc[0])
    rows = list(points) if points is not None else list(range(n_points))
    width = max(16, *(len(n) + 2 for n in names))
    lines = [f"{label:>7s}" + "".join(f"{n:>{width}s}" for n in names)]
    for i in rows:
        cells = []
        for n in names:
            m, s = curves[n].mean_std(i)
            cells.append(f"{100 * m:>{width - 8}.1f} +- {100 * s:4.1f}")
        lines.append(f"{i * scale:>7d}" + "".join(cells))
    return "\n".join(lines)


def summary(curves: dict[str, Curves], threshold: float, label: str = "epoch", scale: int = 1) -> str:
    """Per variant and seed, the first point (``label`` units) reaching ``threshold`` test
    accuracy ('-': not reached), and the final accuracy per seed."""
    lines = [f"first {label} with test accuracy >= {100 * threshold:g}% (per seed; -: not reached), "
             "final accuracy per seed:"]
    width = max(len(n) for n in curves)
    for n, c in curves.items():
        firsts = " ".join("-" if e is None else str(e * scale) for e in c.first_reaching(threshold))
        finals = " ".join(f"{100 * run[-1]:.1f}" for run in c.test_acc)
        lines.append(f"  {n:<{width}s}  {firsts:<24s} final: {finals}")
    return "\n".join(lines)


def plot(path: str | Path, digits: dict[str, Curves] | None = None,
         counting: dict[str, Curves] | None = None, counting_scale: int = 1,
         digits_bias: float = 2.0) -> Path:
    """A figure: the NAN hard_tanh unit (eval form and the band of its train-mode output between the
    5% and 95% quantiles of xi, at two noise levels), then the mean +- std test-accuracy curves of
    the demos given."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from actlab.catalog.plot import save_figure
    from actlab.noisy.entries import FUNCTIONAL

    panels = 1 + (digits is not None) + (counting is not None)
    fig, axes = plt.subplots(1, panels, figsize=(5.2 * panels, 4.0), squeeze=False)
    ax = axes[0][0]
    x = torch.linspace(-4, 4, 801)
    ax.plot(x, torch.clamp(x, -1, 1), color="0.5", lw=1, ls="--", label="hard_tanh")
    nan_fn = FUNCTIONAL["nan_hard_tanh"]
    z95 = 1.6448536269514722  # the 95% quantile of N(0, 1); phi is affine in xi, so these are exact
    with torch.no_grad():
        for c, color, alpha in ((5.0, "tab:orange", 0.3), (0.5, "tab:blue", 0.7)):
            lo, hi = (nan_fn(x, c=c, training=True, xi=torch.full_like(x, q)) for q in (-z95, z95))
            ax.fill_between(x, torch.minimum(lo, hi), torch.maximum(lo, hi), color=color, alpha=alpha,
                            lw=0, label=f"train, 5-95% of xi ~ N(0, 1), c = {c:g}")
        ax.plot(x, nan_fn(x), color="k", lw=1.5, label="eval (xi -> E[xi] = 0)")
    ax.set(title="nan_hard_tanh (alpha 1.15, p = 1, normal noise)", xlabel="x", ylabel="phi(x)")
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)

    col = 1
    for curves, title, xlabel, scale in (
            (digits, f"digits MLP, hidden bias {digits_bias:g} (saturated start)", "epoch", 1),
            (counting, "counting unique integers (LSTM)", "step", counting_scale)):
        if curves is None:
            continue
        ax = axes[0][col]
        col += 1
        n_seeds = 0
        for name, c in curves.items():
            acc = torch.tensor(c.test_acc) * 100
            n_seeds = acc.shape[0]
            mean = acc.mean(0)
            std = acc.std(0) if acc.shape[0] > 1 else torch.zeros_like(mean)
            steps = torch.arange(acc.shape[1]) * scale
            (line,) = ax.plot(steps, mean, marker="o", ms=3, label=name)
            ax.fill_between(steps, (mean - std).clamp(min=0), (mean + std).clamp(max=100),
                            color=line.get_color(), alpha=0.15, lw=0)
        ax.set(title=f"{title}\nmean +- std over {n_seeds} seeds", xlabel=xlabel,
               ylabel="test accuracy (%)")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    out = save_figure(fig, path, dpi=120)
    plt.close(fig)
    return out

