"""The monitor: hooks that reduce every watched tensor on its own device, and one host sync per step.

How a step is recorded (``every`` steps; the others cost one flag check per hook):

* **forward** of an activation module: a forward hook (a forward pre-hook as well for in-place
  modules such as ``nn.ReLU(inplace=True)``, whose input is overwritten) reduces the output to a
  few small tensors: over every element, the per-unit maximum (and minimum for outputs that can be
  negative) - dead units, and NaN/Inf exactly; over a row sample (the first samples of the batch,
  at most ``sample`` elements, a contiguous view still in cache) the sum and L2 norm (mean, std),
  the number of exact zeros and of saturated inputs ``|f'(x)| < threshold`` (the catalog's f').
* **forward** of a weight layer whose output is watched (the head, RNNs, layers with no visible
  activation): the extremes of the output.
* **backward**: a tensor hook (``Tensor.register_hook``) on each watched output gives the norm of
  the gradient arriving there; when the backward pass ends (``queue_callback``) one
  ``_foreach_norm`` gives the norms of all weight gradients. Full backward hooks on modules are
  never used: they fail on in-place activations.
* **step end** (the next forward of the root module, ``mon.step()``, or the optimizer's step): the
  values are brought to the host at once - one ``cat`` and copy per device and recorded step, never
  one synchronisation per layer (CPU tensors are read directly). The host values are folded into
  records ``{"step": t, "layers": {name: {stat: value}}}`` every ``FOLD_BATCH`` recorded steps, or
  as soon as a result is read (``records``, ``nonfinite_*``, ``layers``, ``summary()``, ``close()``):
  the same records, with the Python work done in a batch, where it stays in cache. Sinks receive
  the records when they are folded.

Nothing is kept that holds an autograd graph: every reduction runs on detached tensors, and
the hooks on tensors live and die with their graph. Outputs and gradients are not modified.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from actlab.watch.layers import MAIN_KINDS, ActInfo, activation_info, first_tensor, is_activation, layer_kind

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from actlab.watch.summary import Summary


STEP_MODES = ("forward", "manual", "optimizer")

#: Default window (in recorded steps) over which a unit must output exactly zero for every sample to
#: count as dead; with ``every=1`` and batch 128 that is 2,560 samples.
DEFAULT_WINDOW = 20
#: Default relative saturation threshold: saturated where ``|f'(x)| < tau * sup|f'|`` (sigmoid:
#: |x| > 4.36, outputs within 0.013 of 0 or 1; tanh: |x| > 2.18). actlab's choice: no standard exists.
DEFAULT_TAU = 0.05
#: Default row sample for the zero and saturated fractions (exact below this many elements).
DEFAULT_SAMPLE = 16384
#: Recorded steps brought to the host one by one but folded into records together (see _finalize).
FOLD_BATCH = 16


@dataclass
class LayerInfo:
    """A watched layer, as reported in summaries and records.

    ``kind`` is ``"activation"`` or the weight-layer kind (``linear``, ``conv``, ``rnn``,
    ``embedding``, ``norm``, ``other``). An activation module called after several different weight
    layers in one forward (one ``nn.ReLU`` shared by all blocks) is one layer per call site, named
    ``"<module>@<weight layer>"``; repeated calls at one site (an RNN cell's gate over time steps)
    are aggregated. ``order`` is the position in forward order (-1: never ran).
    """

    name: str
    kind: str
    module_name: str
    module_type: str
    activation: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    after: str | None = None
    units: int | None = None
    order: int = -1


@dataclass
class _Site:
    info: LayerInfo
    module: nn.Module
    act: ActInfo | None = None
    unit_dim: int = -1
    last_alive: Any = None  # numpy, per unit: the last recorded appearance with a non-zero output
    seen: int = 0  # recorded steps in which this site ran
    track_out_grad: bool = True
    #: ``{(output shape, dtype): Monitor._plan(...)}`` (derived once per shape)
    plan: dict[Any, tuple[Any, ...]] = field(default_factory=dict)
    #: the site has a saturation measure to take (a catalog f' that is not relu's indicator)
    sat: bool = True


class _Buffer:
    """The statistics of one recorded step, in the order the hooks produced them."""

    __slots__ = ("closed", "events", "meta", "queued", "step", "vals")

    def __init__(self, step: int, events: bool) -> None:
        self.step = step
        self.vals: list[Tensor] = []  # 0-d, or 1-d per-unit extremes
        self.meta: list[tuple[int, str, int]] = []  # (site, stat, sample size or parameter slot)
        self.events: list[tuple[str, int]] | None = [] if events else None
        self.queued = False  # an end-of-backward callback is pending
        self.closed = False


def _sum(t: Tensor) -> Tensor:
    # Low-precision tensors are summed in float32; float32/float64 as they are (a dtype argument,
    # even one equal to the input's, costs vector_norm a copy).
    return t.sum() if t.dtype in (torch.float32, torch.float64) else t.sum(dtype=torch.float32)


def _norm(t: Tensor) -> Tensor:
    if t.dtype in (torch.float32, torch.float64):
        return torch.linalg.vector_norm(t)
    return torch.linalg.vector_norm(t, dtype=torch.float32)


def _count_nonzero(t: Tensor) -> Tensor:
    """``torch.count_nonzero(t)`` (NaN counts as non-zero), 2-3x cheaper on the CPU in place: a cast to
    bool and an integer sum."""
    return t.bool().sum()


def _rows(t: Tensor, k: int | None) -> Tensor:
    """The first samples (dim 0) holding at most about ``k`` elements (a contiguous view, no copy):
    keeps every unit and the shape, which channel-wise derivatives (per-channel PReLU) need.
    Training batches are shuffled, so the first rows are as good a sample as any; a contiguous
    slice reduces several times faster than a strided one."""
    if k is None or t.dim() < 2 or t.numel() <= k:
        return t
    per_row = max(1, t.numel() // max(1, t.shape[0]))
    return t[:max(1, k // per_row)]


class WatchCompileError(RuntimeError):
    """actlab.watch cannot record inside a torch.compile'd region."""


_COMPILE_MSG = ("actlab.watch cannot record inside torch.compile: its hooks would be traced into the "
                "graph instead of running each step. Watch the eager model (compile after "
                "diagnosing), or close the monitor before compiling.")


def _compiling() -> bool:
    try:
        return bool(torch.compiler.is_compiling())
    except AttributeError:  # torch < 2.3
        return bool(torch._dynamo.is_compiling())


class Monitor:
    """Records per-layer statistics of a training run; see :func:`actlab.watch.watch`."""

    def __init__(
        self,
        model: nn.Module,
        *,
        every: int = 1,
        window: int = DEFAULT_WINDOW,
        step: str = "forward",
        optimizer: torch.optim.Optimizer | None = None,
        saturation_threshold: float = DEFAULT_TAU,
        sample: int | None = DEFAULT_SAMPLE,
        sinks: Iterable[Any] = (),
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"watch: model must be a torch.nn.Module, got {type(model).__name__}")
        if type(model).__name__ == "OptimizedModule" or hasattr(model, "_orig_mod"):
            raise WatchCompileError(_COMPILE_MSG + " (got a torch.compile'd module: pass model._orig_mod "
                                    "and compile later)")
        for name, value, low in (("every", every, 1), ("window", window, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"watch: {name}={value!r} is invalid; valid: an integer >= {low}")
        if sample is not None and (isinstance(sample, bool) or not isinstance(sample, int) or sample < 1):
            raise ValueError(f"watch: sample={sample!r} is invalid; valid: an integer >= 1, or None (exact)")
        if not (isinstance(saturation_threshold, (int, float)) and 0 < saturation_threshold < 1):
            raise ValueError(f"watch: saturation_threshold={saturation_threshold!r} is invalid; valid: "
                             "a number in (0, 1), relative to sup|f'|")
        if optimizer is not None and step == "forward":
            step = "optimizer"
        if step not in STEP_MODES:
            raise ValueError(f"watch: step={step!r} is invalid; valid: {', '.join(STEP_MODES)}")
        if step == "optimizer" and optimizer is None:
            raise ValueError("watch: step='optimizer' needs optimizer=<the torch.optim optimizer>")
        self.model = model
        self.every, self.window, self.step_mode = every, window, step
        self.tau, self.sample = float(saturation_threshold), sample
        self.sinks = list(sinks)
        self._records: list[dict[str, Any]] = []
        self._nonfinite: dict[str, dict[str, Any] | None] = {"forward": None, "backward": None}
        # Steps brought to the host but not yet folded into records: folding runs in batches of
        # FOLD_BATCH (or whenever a result is read), where its Python and numpy work stays in cache.
        self._unfolded: list[tuple[_Buffer, list[Any]]] = []
        self._nrec = 0  # recorded steps brought to the host (folded or not)
        self.invisible: list[str] = []  # linear/conv layers with no visible activation after them
        self.notes: list[str] = []
        #: ``{linear layer: (sigma_w^2, sigma_b^2)}`` when watching began: fan-in * E[W^2], E[b^2]
        self.initial_scales: dict[str, tuple[float, float]] = {}
        self.steps_seen = 0
        self._sites: list[_Site] = []
        self._act_sites: dict[int, dict[int, int]] = {}  # id(module) -> {weight site or -1: site}
        self._after_conv: dict[int, bool] = {}  # id(activation) -> a conv precedes it in module order
        self._weight_sites: dict[int, int] = {}  # id(module) -> site
        self._names: dict[int, str] = {}
        self._pending_in: dict[int, int] = {}  # in-place modules: site whose input was measured
        self._current = -1  # the weight layer whose forward started last (names activation call sites)
        self._order = 0
        self._t = -1
        self._buf: _Buffer | None = None
        self._handles: list[Any] = []  # for the whole run: step boundaries
        self._layer_handles: list[Any] = []  # only while a recorded step runs
        self._installed: str | None = None
        self._shared = False  # an activation module runs at several call sites: track weight layers
        self._targets: list[nn.Module] = []
        self._params: list[tuple[nn.Parameter, int, int]] = []
        self._closed = False
        self._attach(optimizer)
        if step != "forward":
            self._t = 0
            self._begin()

    # -- attaching --------------------------------------------------------------------------------
    def _attach(self, optimizer: torch.optim.Optimizer | None) -> None:
        model = self.model
        root = type(model).__name__
        if self.step_mode == "forward":
            self._handles.append(model.register_forward_pre_hook(self._on_root_forward, prepend=True))
        elif self.step_mode == "optimizer":
            self._handles.append(optimizer.register_step_post_hook(lambda *a, **k: self.step()))
        hooked: set[int] = set()
        last_main = None
        for name, m in model.named_modules():
            self._names[id(m)] = name or root
            if is_activation(m):
                self._targets.append(m)
                self._after_conv[id(m)] = last_main == "conv"
                continue
            kind = layer_kind(m)
            if kind is None:
                continue
            if kind in MAIN_KINDS:
                last_main = kind
            if isinstance(m, nn.Linear):  # for the mean-field check (summary.MeanFieldCheck)
                self.initial_scales[name or root] = _scales(m)
            idx = len(self._sites)
            self._sites.append(_Site(LayerInfo(name or root, kind, name or root, type(m).__name__), m))
            self._weight_sites[id(m)] = idx
            self._targets.append(m)
            for slot, p in enumerate(_weight_params(m, kind)):
                if p.requires_grad and id(p) not in hooked:
                    hooked.add(id(p))
                    self._params.append((p, idx, slot))
        if not any(is_activation(m) for m in self._targets):
            self.notes.append("no activation module found: the model has no activation, or calls them as "
                              "functions inside forward (F.relu, torch.tanh), which cannot be hooked; use "
                              "modules, or actlab.watch.modularize(model)")

    def _install(self, mode: str | None) -> None:
        """Hooks on layers exist only while a recorded step runs, so a step that is not recorded
        runs the model as without the monitor (hooks force nn.Module's slow call path).

        ``"full"`` (the first recorded step): every activation and weight layer, to learn the
        forward order, the call sites and which linear/conv layers have no activation after them.
        ``"steady"``: activation layers, plus the weight layers whose output is watched (the head,
        RNNs, layers with no visible activation) and, only where an activation module is shared
        by several call sites, the pre-hooks that tell the sites apart.
        """
        if mode == self._installed:
            return
        for h in self._layer_handles:
            h.remove()
        self._layer_handles.clear()
        self._installed = mode
        if mode is None:
            return
        add = self._layer_handles.append
        full = mode == "full"
        for m in self._targets:
            if is_activation(m):
                if getattr(m, "inplace", False):
                    add(m.register_forward_pre_hook(self._on_act_input))
                add(m.register_forward_hook(self._on_act_output))
                continue
            if full or self._shared:
                add(m.register_forward_pre_hook(self._on_weight_input))
            if full or self._sites[self._weight_sites[id(m)]].track_out_grad:
                add(m.register_forward_hook(self._on_weight_output))
        if _queue_callback is None:  # old PyTorch: one hook per parameter instead
            for p, idx, slot in self._params:
                add(p.register_post_accumulate_grad_hook(self._param_hook(idx, slot)))

    # -- steps ------------------------------------------------------------------------------------
    def _on_root_forward(self, module: nn.Module, args: Any) -> None:
        if not torch.is_grad_enabled():
            return
        if _compiling():
            raise WatchCompileError(_COMPILE_MSG)
        self._finalize()
        self._t += 1
        self._begin()

    def _begin(self) -> None:
        if self.step_mode == "forward":  # a forward has started this step; other modes count in step()
            self.steps_seen = self._t + 1
        record = self._t % self.every == 0
        if record:
            self._buf = _Buffer(self._t, events=not self._nrec)
        self._install(("steady" if self._nrec else "full") if record else None)

    def step(self) -> None:
        """End the current step. With ``step="forward"`` (the default) the next forward of the model
        begins the next step, so this only makes the current step's statistics available now; with
        ``step="manual"``, call it once per training step, after the optimizer's step."""
        if self._closed:
            return
        self._finalize()
        if self.step_mode != "forward":
            self.steps_seen = self._t + 1  # the step that just ended; the next may never run
            self._t += 1
            self._begin()

    # -- hooks ------------------------------------------------------------------------------------
    def _on_weight_input(self, module: nn.Module, args: Any) -> None:
        buf = self._buf
        if buf is None or not torch.is_grad_enabled():
            return
        if _compiling():
            raise WatchCompileError(_COMPILE_MSG)
        idx = self._weight_sites[id(module)]
        site = self._sites[idx]
        if site.info.kind in MAIN_KINDS:
            self._current = idx
        if site.info.order < 0:
            site.info.order = self._order
            self._order += 1
        if buf.events is not None:
            buf.events.append(("W", idx))

    def _on_weight_output(self, module: nn.Module, args: Any, out: Any) -> None:
        buf = self._buf
        if buf is None or not torch.is_grad_enabled():
            return
        y = first_tensor(out)
        if y is None or not y.is_floating_point() or y.numel() == 0:
            return
        idx = self._weight_sites[id(module)]
        lo, hi = torch.aminmax(y.detach())  # every element: NaN/Inf exactly
        buf.vals += (lo, hi)
        buf.meta += ((idx, "min", 0), (idx, "max", 0))
        if self._sites[idx].track_out_grad and y.requires_grad:
            y.register_hook(self._grad_hook(buf, idx))

    def _act_site(self, module: nn.Module, y: Tensor) -> int:
        sites = self._act_sites.get(id(module))
        if sites is not None:
            # After the first recorded step ("full" hooks) call sites are known: a module seen at one
            # site is one layer, and only shared modules need the weight layers' pre-hooks.
            if not self._shared and self._installed != "full":
                return next(iter(sites.values()))
            idx = sites.get(self._current)
            if idx is not None:
                return idx
        else:
            sites = self._act_sites[id(module)] = {}
        info = activation_info(module, self.tau)
        after = self._sites[self._current] if self._current >= 0 else None
        mname = self._names.get(id(module), type(module).__name__)
        name = f"{mname}@{after.info.name if after else 'input'}" if sites else mname
        conv = after.info.kind == "conv" if after is not None else self._after_conv.get(id(module), False)
        unit_dim = 1 if conv and y.dim() >= 3 else -1
        idx = len(self._sites)
        self._sites.append(_Site(
            LayerInfo(name, "activation", mname, type(module).__name__, info.name, info.params,
                      after.info.name if after else None, order=self._order),
            module, info, unit_dim, sat=info.derivative is not None and not info.sat_is_zero))
        self._order += 1
        sites[self._current] = idx
        return idx

    def _on_act_input(self, module: nn.Module, args: Any) -> None:
        # In-place modules overwrite their input: measure saturation before they run.
        buf = self._buf
        if buf is None or not torch.is_grad_enabled() or not args:
            return
        x = args[0]
        if isinstance(x, Tensor) and x.is_floating_point() and x.numel():
            idx = self._act_site(module, x)
            self._saturation(buf, idx, x)
            self._pending_in[id(module)] = idx

    def _on_act_output(self, module: nn.Module, args: Any, out: Any) -> None:
        buf = self._buf
        if buf is None or not torch.is_grad_enabled():
            return
        if _compiling():
            raise WatchCompileError(_COMPILE_MSG)
        y = out
        if not isinstance(y, Tensor) or not y.is_floating_point() or y.numel() == 0:
            return
        idx = self._pending_in.pop(id(module), None)
        measured_input = idx is not None
        if idx is None:
            idx = self._act_site(module, y)
        site = self._sites[idx]
        if buf.events is not None:
            buf.events.append(("A", idx))
        self._forward_stats(buf, idx, site, y.detach())
        if site.sat and not measured_input and args and isinstance(args[0], Tensor) \
                and args[0].is_floating_point():
            self._saturation(buf, idx, args[0])
        if y.requires_grad:
            y.register_hook(self._grad_hook(buf, idx))

    def _forward_stats(self, buf: _Buffer, idx: int, site: _Site, y: Tensor) -> None:
        # Every element: per-unit extremes, copied to the host with the rest at step end (dead
        # units; NaN/Inf exactly). Row sample: sum and norm (mean, std), the fraction of exact zeros.
        # The per-shape plan holds what does not change from step to step (dims, sample, meta).
        key = (y.shape, y.dtype)
        plan = site.plan.get(key)
        if plan is None:
            if len(site.plan) >= 64:  # shapes that change every step (sequence lengths): stay bounded
                site.plan.clear()
            plan = site.plan[key] = self._plan(idx, site, y)
        red, rows, mode, meta = plan
        ys = y[:rows] if rows else y  # its rows were just read by amax: still in cache
        if mode == 0:  # float32/64, outputs never negative: the common case, no helper calls
            buf.vals += (y.amax(dim=red), ys.sum(), torch.linalg.vector_norm(ys), ys.bool().sum())
        elif mode == 1:  # float32/64, signed outputs
            buf.vals += (y.amax(dim=red), y.amin(dim=red), ys.sum(), torch.linalg.vector_norm(ys),
                         ys.bool().sum())
        else:
            if red:
                buf.vals.append(y.amax(dim=red))
                if mode == 3:
                    buf.vals.append(y.amin(dim=red))
            else:
                buf.vals += torch.aminmax(y)
            buf.vals += (_sum(ys), _norm(ys), _count_nonzero(ys))
        buf.meta += meta

    def _plan(self, idx: int, site: _Site, y: Tensor) -> tuple[tuple[int, ...], int, int, tuple[Any, ...]]:
        """For an output of this shape and dtype: the dims reduced for per-unit extremes (none for
        0-d/1-d: overall min and max), the rows of the sample (0: all, see :func:`_rows`), the code
        path (0/1: float32/64 without/with minima; 2/3: other dtypes or no unit dim) and the meta
        entries the statistics produce, in order."""
        red: tuple[int, ...] = ()
        if y.dim() >= 2:
            ud = site.unit_dim % y.dim()
            red = tuple(d for d in range(y.dim()) if d != ud)
        ys = _rows(y, self.sample)
        rows = ys.shape[0] if ys.dim() and ys.shape[0] < y.shape[0] else 0
        n = ys.numel()
        nonneg = site.act is not None and site.act.nonneg
        if red:
            ext: tuple[Any, ...] = ((idx, "umax", 0),) if nonneg else ((idx, "umax", 0), (idx, "umin", 0))
        else:
            ext = ((idx, "min", 0), (idx, "max", 0))
        mode = (0 if nonneg else 1) if red and y.dtype in _HOST_DTYPES else (3 if red and not nonneg else 2)
        return red, rows, mode, (*ext, (idx, "sum", n), (idx, "sq", n), (idx, "nz", n))

    def _saturation(self, buf: _Buffer, idx: int, x: Tensor) -> None:
        act = self._sites[idx].act
        if act is None or act.derivative is None or act.sat_is_zero:
            return
        xs = _rows(x.detach(), self.sample)
        try:
            d = act.derivative(xs)
        except Exception as e:  # a derivative that cannot take this input (dtype, shape)
            act.derivative = None
            self.notes.append(f"{self._sites[idx].info.name}: no saturation measure "
                              f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})")
            return
        if not act.monotonic:
            d = d.abs()
        buf.vals.append((d < act.threshold).sum())
        buf.meta.append((idx, "sat", xs.numel()))

    def _grad_hook(self, buf: _Buffer, idx: int) -> Callable[[Tensor], None]:
        def hook(g: Tensor) -> None:
            if buf.closed or g is None:
                return
            if not buf.queued and self._params and _queue_callback is not None:
                buf.queued = True
                _queue_callback(lambda: self._end_of_backward(buf))
            if g.requires_grad:  # create_graph=True
                g = g.detach()
            n = _norm(g)
            # The norm is NaN exactly when an element is NaN, but it overflows float32 to inf while
            # every element is finite (elements ~1e19). On the CPU (no device sync to pay) an inf
            # norm is checked against the elements: flag 1 = elements finite, 0 = not known finite.
            exact = int(g.is_cpu and math.isinf(n.item()) and bool(torch.isfinite(g).all()))
            buf.vals.append(n)
            buf.meta.append((idx, "gout", exact))

        return hook

    def _end_of_backward(self, buf: _Buffer) -> None:
        """Weight-gradient norms once the backward pass is over: one ``_foreach_norm`` over every
        kernel instead of a Python call and a kernel launch per parameter."""
        buf.queued = False
        if buf.closed:
            return
        dense, meta = [], []
        for p, idx, slot in self._params:
            g = p.grad
            if g is None:
                continue
            if g.is_sparse:
                buf.vals.append(_norm(g.coalesce().values()))
                buf.meta.append((idx, "wgrad", slot))
            else:
                dense.append(g.detach() if g.requires_grad else g)  # create_graph=True: a graph
                meta.append((idx, "wgrad", slot))
        if not dense:
            return
        try:
            norms: Sequence[Tensor] = torch._foreach_norm(dense)
        except (RuntimeError, TypeError, AttributeError):  # mixed devices/dtypes on some builds
            norms = [_norm(g) for g in dense]
        buf.vals += norms
        buf.meta += meta

    def _param_hook(self, idx: int, slot: int) -> Callable[[Tensor], None]:
        def hook(p: Tensor) -> None:
            buf = self._buf
            g = p.grad
            if buf is None or g is None:
                return
            g = g.detach()
            if g.is_sparse:
                g = g.coalesce().values()
            buf.vals.append(_norm(g))
            buf.meta.append((idx, "wgrad", slot))

        return hook

    # -- step end: the one host sync --------------------------------------------------------------
    def _finalize(self) -> None:
        buf, self._buf = self._buf, None
        self._pending_in.clear()
        self._current = -1
        if buf is None:
            return
        buf.closed = True
        if not buf.vals:
            return
        self.steps_seen = max(self.steps_seen, buf.step + 1)  # a step read before step() ended it
        values = _to_host(buf.vals)
        buf.vals = []  # the host copy is all that is kept: no tensor outlives its step
        self._unfolded.append((buf, values))
        self._nrec += 1
        if self._nrec == 1:
            self._name_sites()
            self._shared = any(len(v) > 1 for v in self._act_sites.values())
            if buf.events is not None:
                self._find_invisible(buf.events)
        if self._nrec == 1 or len(self._unfolded) >= FOLD_BATCH:
            self._fold_pending()

    def _fold_pending(self) -> None:
        """Fold the steps already on the host into records, in step order, and write them to the
        sinks. Runs every FOLD_BATCH recorded steps and before any result is read."""
        pending, self._unfolded = self._unfolded, []
        for buf, values in pending:
            record = self._fold(buf, values)
            self._records.append(record)
            for sink in self.sinks:
                sink.write(record)

    @property
    def records(self) -> list[dict[str, Any]]:
        """One ``{"step": t, "layers": {name: {stat: value}}}`` per recorded step, in order."""
        if self._unfolded:
            self._fold_pending()
        return self._records

    @property
    def nonfinite_forward(self) -> dict[str, Any] | None:
        """``{"layer", "step"}`` of the first NaN/Inf in forward order (the first step with one)."""
        if self._unfolded:
            self._fold_pending()
        return self._nonfinite["forward"]

    @property
    def nonfinite_backward(self) -> dict[str, Any] | None:
        """``{"layer", "step"}`` of the first NaN/Inf gradient in backward order."""
        if self._unfolded:
            self._fold_pending()
        return self._nonfinite["backward"]

    def _fold(self, buf: _Buffer, values: list[Any]) -> dict[str, Any]:
        acc: dict[int, dict[str, Any]] = {}
        for (idx, stat, n), v in zip(buf.meta, values):
            a = acc.get(idx)
            if a is None:
                a = acc[idx] = {"n": 0, "sum": 0.0, "sq": 0.0, "nz": 0.0, "nzn": 0, "sat": 0.0, "satn": 0,
                                "gout": 0.0, "ngout": 0, "w": {}, "calls": 0}
            if stat == "umax" or stat == "umin":
                key = stat[1:]
                if v.size:
                    hi, lo = float(v.max()), float(v.min())  # NaN if any element is NaN
                    ext = hi if key == "max" else lo
                    if not (math.isfinite(hi) and math.isfinite(lo)):
                        self._note_nonfinite(buf.step, idx, key)
                    a[key] = ext if key not in a else _extreme(a[key], ext, key == "min")
                alive = v != 0
                prev = a.get("alive")
                a["alive"] = alive if prev is None or prev.shape != alive.shape else prev | alive
                continue
            v = float(v)
            if stat == "sum":
                a["n"] += n
                a["sum"] += v
                a["calls"] += 1
            elif stat == "sq":
                a["sq"] += v * v
            elif stat == "nz":
                a["nz"] += v
                a["nzn"] += n
            elif stat == "sat":
                a["sat"] += v
                a["satn"] += n
            elif stat == "gout":
                a["gout"] += v * v
                a["ngout"] += 1
                if not math.isfinite(v) and not n:
                    self._note_nonfinite(buf.step, idx, stat)
            elif stat == "wgrad":
                a["w"][n] = v  # the last backward of the step holds the accumulated gradient
            else:  # min, max
                a[stat] = v if stat not in a else _extreme(a[stat], v, stat.endswith("min"))
                if not math.isfinite(v):
                    self._note_nonfinite(buf.step, idx, stat)
        layers: dict[str, dict[str, float]] = {}
        for idx in sorted(acc, key=lambda i: (self._sites[i].info.order, i)):
            a = acc[idx]
            site = self._sites[idx]
            out: dict[str, float] = {}
            if a["n"]:
                mean = a["sum"] / a["n"]
                out["mean"] = mean
                if site.info.kind == "activation":
                    var = a["sq"] / a["n"] - mean * mean
                    out["std"] = math.sqrt(max(var, 0.0)) if math.isfinite(var) else math.nan
                    out["zero_fraction"] = 1.0 - a["nz"] / a["nzn"]
            for k in ("min", "max"):
                if k in a:
                    out[k] = a[k]
            if a["satn"]:
                out["saturated_fraction"] = a["sat"] / a["satn"]
            elif site.act is not None and site.act.sat_is_zero and "zero_fraction" in out:
                out["saturated_fraction"] = out["zero_fraction"]
            if "alive" in a:
                out.update(self._dead(site, a["alive"]))
            if a["ngout"]:
                out["grad_norm"] = math.sqrt(a["gout"])
            if a["w"]:
                out["weight_grad_norm"] = math.sqrt(sum(v * v for v in a["w"].values()))
            if a["calls"] > 1:
                out["calls"] = a["calls"]
            layers[site.info.name] = out
        return {"step": buf.step, "layers": layers}

    def _dead(self, site: _Site, alive: Any) -> dict[str, float]:
        """Units whose output was exactly 0 for every sample in each of the last min(window, seen)
        recorded steps in which the layer ran."""
        import numpy as np

        site.seen += 1
        if site.last_alive is None or site.last_alive.shape != alive.shape:
            site.last_alive = np.zeros(alive.shape, dtype=np.int64)
            site.info.units = int(alive.size)
        np.putmask(site.last_alive, alive, site.seen)
        m = min(self.window, site.seen)
        dead = int(np.count_nonzero(site.last_alive <= site.seen - m))
        return {"dead_fraction": dead / alive.size if alive.size else 0.0, "dead_units": float(dead)}

    def _note_nonfinite(self, step: int, idx: int, stat: str) -> None:
        # Exact detectors only: extremes propagate NaN and Inf; norms and sums may overflow float32
        # while every element is finite, so they are never taken as evidence of NaN/Inf. Entries
        # are scanned in the order the hooks ran: forward order, then backward order.
        where = {"layer": self._sites[idx].info.name, "step": step}
        if stat in ("min", "max") and self._nonfinite["forward"] is None:
            self._nonfinite["forward"] = where
        elif stat == "gout" and self._nonfinite["backward"] is None:
            self._nonfinite["backward"] = where

    def _name_sites(self) -> None:
        # A module seen at several call sites in the first step gets "<module>@<weight layer>" names.
        by_module: dict[str, list[_Site]] = {}
        for s in self._sites:
            if s.info.kind == "activation":
                by_module.setdefault(s.info.module_name, []).append(s)
        for sites in by_module.values():
            if len(sites) > 1:
                for s in sites:
                    s.info.name = f"{s.info.module_name}@{s.info.after or 'input'}"

    def _find_invisible(self, events: list[tuple[str, int]]) -> None:
        """Linear/conv layers after which no activation module ran before the next main layer (the
        last main layer, the output head, excepted): their activation is functional or missing.
        Only those, RNNs and the head keep the hook on their output gradient."""
        mains = [(i, e[1]) for i, e in enumerate(events)
                 if e[0] == "W" and self._sites[e[1]].info.kind in MAIN_KINDS]
        last = mains[-1][1] if mains else -1
        for j, (pos, idx) in enumerate(mains):
            end = mains[j + 1][0] if j + 1 < len(mains) else len(events)
            followed = any(events[k][0] == "A" for k in range(pos + 1, end))
            site = self._sites[idx]
            if idx == last or site.info.kind == "rnn":
                site.track_out_grad = True
            elif not followed and site.info.kind in ("linear", "conv"):
                if site.info.name not in self.invisible:
                    self.invisible.append(site.info.name)
                site.track_out_grad = True
            else:
                site.track_out_grad = False

    # -- results ----------------------------------------------------------------------------------
    @property
    def layers(self) -> list[LayerInfo]:
        """Watched layers that ran, in forward order."""
        if self._unfolded:
            self._fold_pending()  # units are counted when a step is folded
        return [s.info for s in sorted(self._sites, key=lambda s: s.info.order) if s.info.order >= 0]

    def site_acts(self) -> dict[str, ActInfo]:
        return {s.info.name: s.act for s in self._sites if s.act is not None}

    def history(self, stat: str, layers: Sequence[str] | None = None) -> tuple[list[int], list[str], Any]:
        """``(steps, layer_names, values)`` with ``values[i, j]`` the statistic ``stat`` of layer j at
        recorded step i (NaN where the layer did not report it)."""
        import numpy as np

        records = self.records
        known = sorted({k for r in records for stats in r["layers"].values() for k in stats})
        if records and stat not in known:
            raise ValueError(f"history: unknown statistic {stat!r}; valid: {', '.join(known)}")
        if layers is not None:
            every = {li.name for li in self.layers}
            unknown = [n for n in layers if n not in every]
            if unknown:
                raise ValueError(f"history: unknown layer(s) {unknown}; valid: {', '.join(sorted(every))}")
        names = list(layers) if layers is not None else [
            li.name for li in self.layers if any(stat in r["layers"].get(li.name, {}) for r in records)]
        vals = np.full((len(self.records), len(names)), np.nan)
        for i, r in enumerate(self.records):
            for j, n in enumerate(names):
                v = r["layers"].get(n, {}).get(stat)
                if v is not None:
                    vals[i, j] = v
        return [r["step"] for r in self.records], names, vals

    def summary(self, echo: bool = False, theory: bool = True) -> Summary:
        """The diagnosis: a :class:`actlab.watch.Summary` (``to_dict()``, ``to_json()``, ``str()`` is
        the short human text); ``echo=True`` prints the text too. ``theory``: add the mean-field
        chi_1 next to the measured per-layer gradient ratio (``Summary.mean_field``; MLP-style
        Linear -> activation chains only; costs a quadrature, ~0.02-0.3 s per activation kind)."""
        from actlab.watch.summary import build_summary

        self._finalize_if_done()
        s = build_summary(self, theory=theory)
        if echo:
            print(s.text)
        return s

    def plot(self, path: str | os.PathLike[str] | None = None, **kwargs: Any) -> Figure:
        """Gradient flow per layer over time and dead/saturated fractions per layer; saves to
        ``path`` (PNG, SVG, PDF by extension) when given, returns the matplotlib figure."""
        from actlab.watch.plot import plot_monitor

        self._finalize_if_done()
        return plot_monitor(self, path, **kwargs)

    def _finalize_if_done(self) -> None:
        # Results asked for mid-run: the current step's backward has happened (or never will).
        if self._buf is not None and self._buf.vals:
            self._finalize()
        if self._unfolded:
            self._fold_pending()

    # -- closing ----------------------------------------------------------------------------------
    def close(self) -> None:
        """Record the last step, remove every hook and close the sinks (idempotent)."""
        if self._closed:
            return
        try:
            self._finalize_if_done()
        finally:
            self._closed = True
            self._buf = None
            for h in self._handles:
                h.remove()
            self._handles.clear()
            self._install(None)
            for sink in self.sinks:
                sink.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None:
            # The loop raised: remove the hooks without recording a half-finished step.
            self._buf = None
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "watching"
        recorded = self._nrec + self._in_flight()  # the step in progress counts once it has data
        return (f"<actlab.watch.Monitor {state} {type(self.model).__name__}: {len(self.layers)} layers, "
                f"{recorded} recorded steps of {max(self.steps_seen, recorded)}, every={self.every}>")

    def _in_flight(self) -> int:
        """1 while the current step has statistics not yet brought to the host (ended by the next
        step or by reading a result), else 0."""
        return int(self._buf is not None and bool(self._buf.vals))


def _scales(m: nn.Linear) -> tuple[float, float]:
    """Mean-field scales of a linear layer: sigma_w^2 = fan_in * E[W^2], sigma_b^2 = E[b^2] (0 without
    bias)."""
    with torch.no_grad():
        w = m.weight.detach().to(torch.float64)
        sw = float(w.shape[1] * w.pow(2).mean()) if w.numel() else math.nan
        sb = 0.0 if m.bias is None else float(m.bias.detach().to(torch.float64).pow(2).mean())
    return sw, sb


def _weight_params(m: nn.Module, kind: str) -> list[nn.Parameter]:
    """The parameters whose gradient norm is the layer's "weight gradient": the kernels of linear,
    conv and RNN layers (``weight``, ``weight_ih_l0``, ...; biases left out, as AUTOTRAINER norms
    kernels), every parameter of other layers."""
    params = list(m.named_parameters(recurse=False))
    if kind in MAIN_KINDS:
        kernels = [p for n, p in params if n.startswith("weight")]
        if kernels:
            return kernels
    return [p for _, p in params]


try:  # runs a function when the current backward pass ends (what DDP uses to sync gradients)
    _queue_callback: Callable[[Callable[[], None]], None] | None = (
        torch.autograd.Variable._execution_engine.queue_callback)
except AttributeError:  # pragma: no cover - very old PyTorch
    _queue_callback = None


def _extreme(a: float, b: float, low: bool) -> float:
    if math.isnan(a) or math.isnan(b):
        return math.nan
    return min(a, b) if low else max(a, b)


_HOST_DTYPES = (torch.float32, torch.float64)


def _to_host(vals: list[Tensor]) -> list[Any]:
    """Concatenate the statistics and copy them to the host: one synchronisation per device.
    Per-unit vectors come back as numpy arrays (owning their data: no tensor is referenced), the rest
    as Python or numpy scalars."""
    if all(v.is_cpu for v in vals):  # no transfer to batch: reading each value is cheaper than a cat
        # copies: an array made by .numpy() would keep its tensor alive until the step is folded
        return [(v.numpy() if v.dtype in _HOST_DTYPES else v.double().numpy()).copy() if v.dim() else v.item()
                for v in vals]
    by_device: dict[torch.device, list[int]] = {}
    for i, v in enumerate(vals):
        by_device.setdefault(v.device, []).append(i)
    out: list[Any] = [None] * len(vals)
    for device, idx in by_device.items():
        if device.type == "cpu":  # no transfer to batch: reading each value is cheaper than a cat
            for i in idx:
                v = vals[i]
                out[i] = v.double().numpy() if v.dim() else float(v)
            continue
        parts = [vals[i] for i in idx]
        flat = torch.cat([v.reshape(-1) for v in parts]).to(torch.float64).cpu().numpy().copy()
        pos = 0
        for i, v in zip(idx, parts):
            k = v.numel()
            out[i] = flat[pos:pos + k] if v.dim() else flat[pos]
            pos += k
    return out
