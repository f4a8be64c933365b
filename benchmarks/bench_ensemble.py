"""Vectorised ensemble vs one-by-one training (issue 5, goal: >= 5x).

32 MLPs (4 hidden layers of 64 units, ReLU, SGD, 20 epochs on digits) differing in seed and learning
rate, trained (a) one by one with ``run_trial`` (nn.Module + torch.optim) and (b) as one ensemble
with ``run_ensemble``; one thread each, side by side in one process, alternating, best of
``--repeats``. Prints wall and CPU seconds of both and their ratios (on a shared machine the CPU-time
ratio is the steadier one), and the largest difference of the final test accuracies.

Two settings: ``eval_every=1`` (the default of a trial: both full splits evaluated after every epoch,
which costs the two paths about the same) and ``eval_every=epochs`` (evaluated at initialisation and
at the end only: the training itself).

The ensemble runs twice: with its batched products through numpy's BLAS (the default on CPU) and
through ``torch.bmm`` (``ensemble.NUMPY_MATMUL = False``), to show what that choice is worth.

A third row, **products only**, runs nothing but the ensemble's matrix products: the same batched
products, on the same stacked weights and shapes, in the same order, for the same steps and
evaluations (``ensemble._bmm`` and the ``torch.bmm`` it uses for ``g W^T``), with everything else
left out (batch selection, bias, activation, loss, weight update, metrics). Its ratio is the most any
implementation that computes these products with these BLAS calls could reach.

The process keeps freed memory for reuse (``tune_malloc``, as sweep workers do) for *both* paths;
``--no-tune-malloc`` measures glibc's defaults.

    .venv/bin/python benchmarks/bench_ensemble.py [--members 32] [--epochs 20] [--repeats 1]
"""

from __future__ import annotations

import argparse
import time

import torch

from actlab.sweep import TrialConfig, ensemble
from actlab.sweep._malloc import tune_malloc
from actlab.sweep.trial import build_model, dataset_for, run_trial


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--depth", type=int, default=4)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--optimizer", default="sgd", choices=["sgd", "momentum", "adam", "adagrad"])
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--no-tune-malloc", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    tuned = False if args.no_tune_malloc else tune_malloc()
    lrs = [0.01, 0.02, 0.05, 0.1]
    scale = 10 if args.optimizer == "adam" else 1
    base = [TrialConfig(dataset="digits", depth=args.depth, width=args.width, act="relu", epochs=args.epochs,
                        optimizer=args.optimizer, lr=lrs[i % len(lrs)] / scale, seed=i, batch_size=64)
            for i in range(args.members)]
    dataset_for(base[0])
    run_trial(base[0].replace(epochs=1))  # warm up lazy initialisation once, for both paths
    print(f"{args.members} MLPs {args.depth}x{args.width}, {args.epochs} epochs on digits "
          f"({args.optimizer}), 1 thread, malloc tuned: {tuned}")
    for eval_every in (1, args.epochs):
        measure([c.replace(eval_every=eval_every) for c in base], args.repeats)


PATHS = {"loop": "one by one", "ensemble": "ensemble", "torch_bmm": "  with torch.bmm",
         "products": "  products only"}


def products_only(configs: list[TrialConfig]) -> None:
    """The ensemble's matrix products alone, as :func:`ensemble.run_ensemble` issues them for plain
    MLPs with SGD (see the module docstring); values are whatever the products give."""
    cs = configs
    ds = dataset_for(cs[0])
    ens = ensemble._Ensemble(cs, [build_model(c, ds) for c in cs])
    P = [p.detach() for p in ens.params]
    linears = [P[layer.params[0]] for layer in ens.layers if layer.kind == "linear"]
    hidden, head = linears[:-1], linears[-1]
    E, n, bs = len(cs), len(ds.y_train), cs[0].batch_size
    chunk = max(1, (1 << 18) // (E * max(cs[0].width, ds.n_classes, ds.n_features)))
    bmm = ensemble._bmm
    xb_full = ds.x_train[:bs].expand(E, -1, -1).contiguous()

    def evaluate() -> None:
        for xs in (ds.x_train, ds.x_test):
            for a in range(0, len(xs), chunk):
                h = xs[a:a + chunk]
                for w in hidden:
                    h = bmm(h, w)
                torch.bmm(head, h.transpose(1, 2))  # forward() uses baddbmm for the head

    with ensemble.threadpool_limits(torch.get_num_threads(), user_api="blas"):
        evaluate()
        for epoch in range(1, cs[0].epochs + 1):
            for i in range(0, n, bs):
                h = xb_full[:, :min(bs, n - i)]
                tape = []
                for w in hidden:
                    tape.append(h)
                    h = bmm(h, w)
                tape.append(h)
                g = bmm(head, h.transpose(1, 2))  # logits (E, C, B), standing in for their gradient
                g_below = bmm(g.transpose(1, 2), head)
                bmm(g, tape[-1])
                g = g_below
                for k in range(len(hidden) - 1, -1, -1):
                    g_below = torch.bmm(g, hidden[k].transpose(1, 2)) if k else g
                    bmm(tape[k].transpose(1, 2), g)
                    g = g_below
            if epoch == cs[0].epochs or epoch % cs[0].eval_every == 0:
                evaluate()


def run(name: str, configs: list[TrialConfig]) -> list:
    if name == "loop":
        return [run_trial(cfg) for cfg in configs]
    if name == "products":
        products_only(configs)
        return []
    ensemble.NUMPY_MATMUL = name == "ensemble"
    try:
        return ensemble.run_ensemble(configs)
    finally:
        ensemble.NUMPY_MATMUL = True


def measure(configs: list[TrialConfig], repeats: int) -> None:
    wall: dict[str, list[float]] = {name: [] for name in PATHS}
    cpu: dict[str, list[float]] = {name: [] for name in PATHS}
    out: dict[str, list] = {}
    for _ in range(repeats):
        for name in PATHS:
            t, c = time.perf_counter(), time.process_time()
            out[name] = run(name, configs)
            wall[name].append(time.perf_counter() - t)
            cpu[name].append(time.process_time() - c)
    results = [r for rs in out.values() for r in rs]  # products only returns none
    assert all(r.status == "ok" for r in results), [r.status for r in results]
    print(f"\neval_every={configs[0].eval_every}")
    print(f"{'':18}{'wall s':>8}{'cpu s':>8}{'ratio (cpu)':>13}{'max |test_acc diff|':>21}  per repeat (cpu)")
    for name, label in PATHS.items():
        ratio = min(cpu["loop"]) / min(cpu[name])
        diffs = [abs(a.final["test_acc"] - b.final["test_acc"]) for a, b in zip(out["loop"], out[name])]
        diff = f"{max(diffs):21.2e}" if diffs else f"{'-':>21}"
        paired = " ".join(f"{a / b:.2f}x" for a, b in zip(cpu["loop"], cpu[name]))
        print(f"{label:18}{min(wall[name]):8.2f}{min(cpu[name]):8.2f}{ratio:12.1f}x{diff}  {paired}")
    print("goal: ensemble >= 5x faster than one by one (ratio = best of the repeats; per repeat: the "
          "ratio within each repeat, same machine state)")


if __name__ == "__main__":
    main()
