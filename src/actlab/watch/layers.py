"""Which modules of a model the monitor watches, and what it knows about each.

Two kinds of layers are watched:

* **activation layers**: every actlab catalog module (``isinstance(m, actlab.Activation)``) and every
  ``torch.nn`` activation module that :func:`actlab.catalog.torch_map.from_torch` maps to a catalog
  entry (``nn.Identity`` excepted: it is a placeholder, not a choice of activation). The catalog
  gives the closed-form derivative used for the saturation measure, the output range (to skip a
  pass for non-negative outputs) and the saturation kinds (to decide which layers the saturation
  verdict applies to).
* **weight layers**: modules with trainable parameters of their own (``Linear``, ``Conv*``, RNNs,
  ``Embedding``, normalisation layers, custom modules), activation modules excepted.

Activations called as functions inside ``forward`` (``F.relu(x)``, ``torch.tanh(x)``) are not modules
and cannot be hooked; :func:`modularize` rewrites them into modules where ``torch.fx`` can trace the
model.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from actlab.catalog.modules import Activation
from actlab.catalog.registry import spec as catalog_spec
from actlab.catalog.torch_map import from_torch, torch_types

#: Layer kinds of weight layers. The gradient-ratio verdicts compare the first and the last layer of
#: the ``MAIN_KINDS`` (normalisation scales and embeddings are not the layers AUTOTRAINER compares).
MAIN_KINDS = ("linear", "conv", "rnn")
_TORCH_ACTIVATIONS = tuple(t for t in torch_types() if t is not nn.Identity)
_NORMS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm)
if hasattr(nn, "RMSNorm"):
    _NORMS = (*_NORMS, nn.RMSNorm)


@dataclass
class ActInfo:
    """What the monitor needs to know about one activation module.

    Attributes:
        name: catalog name (``"relu"``), or the class name for a module the catalog cannot map.
        params: the catalog parameters.
        derivative: ``f'(x)`` from the catalog's closed form (``None``: no saturation measure).
        threshold: saturated where ``|f'(x)| < threshold`` (``tau * sup|f'|``, see ``watch``).
        saturating: saturates on both sides (sigmoid, tanh, hard_tanh, ...): only there is a large
            saturated fraction a problem; ReLU's flat half is its design (dead units cover it).
        nonneg: outputs are never negative (one reduction instead of two for dead units).
        monotonic: ``f' >= 0`` everywhere (no ``abs`` needed).
        elementwise: ``False`` for softmax, maxout (no saturation or dead-unit verdict).
        zero_centred: E[f(z)] = 0 for z ~ N(0, 1) (the catalog's property).
        sat_is_zero: ReLU: the catalog's relu'(x) = 1[x > 0] (relu'(0) = 0, as autograd), so
            |f'(x)| < threshold exactly where relu(x) = 0, and the saturated fraction is the zero
            fraction, not computed twice.
    """

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    derivative: Callable[[Tensor], Tensor] | None = None
    threshold: float = 0.0
    saturating: bool = False
    nonneg: bool = False
    monotonic: bool = False
    elementwise: bool = True
    zero_centred: bool = False
    sat_is_zero: bool = False


def is_activation(m: nn.Module) -> bool:
    return isinstance(m, (Activation, *_TORCH_ACTIVATIONS))


def activation_info(m: nn.Module, tau: float) -> ActInfo:
    """Catalog facts about an activation module; ``tau`` is the relative saturation threshold."""
    if isinstance(m, Activation):
        name, params, deriv = m.name, dict(m.params), m.derivative
        s = m.spec
    else:
        try:
            config = from_torch(m)
        except ValueError:  # nn.Softmax(dim=None): no catalog entry computes it
            config = None
        if config is None:
            return ActInfo(name=type(m).__name__, elementwise=False)
        params = {k: v for k, v in config.items() if k != "name"}
        name = str(config["name"])
        s = catalog_spec(name)
        if isinstance(m, nn.PReLU):
            deriv = _prelu_derivative(m, s, params)
        else:
            def deriv(x: Tensor, _s: Any = s, _p: dict = params) -> Tensor:
                return _s.derivative(x, **_p)
    if name == "prelu":  # properties at the learned slope, not the initial one (actlab's or torch's)
        w = m.weight.detach()
        if bool((w == w.flatten()[0]).all()):  # one slope: name it (the mean-field check uses it)
            params["init"] = float(w.flatten()[0])
    try:
        props = s.properties(**params)
    except Exception:  # a user entry whose properties cannot be measured: no verdicts, still stats
        return ActInfo(name=name, params=params, derivative=deriv, threshold=tau)
    sup = props.sup_derivative
    if sup == 0:  # step: f' = 0 everywhere, saturated everywhere
        threshold = math.inf
    elif math.isfinite(sup):
        threshold = tau * sup
    else:
        threshold = tau
    left, right = props.saturation
    return ActInfo(
        name=name,
        params=params,
        derivative=deriv,
        threshold=threshold,
        saturating=props.elementwise and left.kind != "none" and right.kind != "none",
        nonneg=props.output_range[0] >= 0,
        monotonic=props.monotonic,
        elementwise=props.elementwise,
        zero_centred=props.zero_centred,
        sat_is_zero=name == "relu" and 0 < threshold <= 1,
    )


def _prelu_derivative(m: nn.PReLU, s: Any, params: dict[str, Any]) -> Callable[[Tensor], Tensor]:
    def deriv(x: Tensor) -> Tensor:
        return s.derivative(x, weight=m.weight.detach(), **params)

    return deriv


def layer_kind(m: nn.Module) -> str | None:
    """``linear``/``conv``/``rnn``/``embedding``/``norm``/``other`` for weight layers, else ``None``."""
    if is_activation(m):
        return None
    if not any(p.requires_grad for p in m.parameters(recurse=False)):
        return None
    if isinstance(m, (nn.Linear, nn.Bilinear)):
        return "linear"
    if isinstance(m, nn.modules.conv._ConvNd):
        return "conv"
    if isinstance(m, (nn.RNNBase, nn.RNNCellBase)) or isinstance(getattr(m, "weight_hh", None), Tensor):
        return "rnn"
    if isinstance(m, (nn.Embedding, nn.EmbeddingBag)):
        return "embedding"
    if isinstance(m, _NORMS):
        return "norm"
    return "other"


def first_tensor(out: Any) -> Tensor | None:
    """The tensor a layer's output stands for: the output itself, ``out[0]`` of an RNN's
    ``(output, h)``, the ``.data`` of a PackedSequence."""
    for _ in range(4):
        if isinstance(out, Tensor):
            return out
        if isinstance(out, nn.utils.rnn.PackedSequence):
            return out.data
        if isinstance(out, (tuple, list)) and out:
            out = out[0]
        else:
            return None
    return None


# -- functional activations -> modules ------------------------------------------------------------
# Functions whose positional and keyword arguments after the input are exactly the module's
# constructor arguments (F.leaky_relu(x, 0.2) == nn.LeakyReLU(0.2)(x)).
_FUNCTIONS: dict[Any, type[nn.Module]] = {
    F.relu: nn.ReLU, torch.relu: nn.ReLU, F.relu6: nn.ReLU6, F.leaky_relu: nn.LeakyReLU,
    F.elu: nn.ELU, F.selu: nn.SELU, torch.selu: nn.SELU, F.celu: nn.CELU, F.gelu: nn.GELU,
    F.silu: nn.SiLU, F.mish: nn.Mish, F.softplus: nn.Softplus, F.softsign: nn.Softsign,
    F.hardtanh: nn.Hardtanh, F.hardswish: nn.Hardswish, F.hardsigmoid: nn.Hardsigmoid,
    F.logsigmoid: nn.LogSigmoid, torch.sigmoid: nn.Sigmoid, F.sigmoid: nn.Sigmoid,
    torch.tanh: nn.Tanh, F.tanh: nn.Tanh,
}
_METHODS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}


def modularize(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose functional activations are ``torch.nn`` modules, so that
    :func:`actlab.watch` sees them.

    ``F.relu(x)``, ``torch.tanh(x)``, ``x.sigmoid()``, ``F.leaky_relu(x, 0.2)`` ... become calls of
    new submodules named ``act_<n>`` (``nn.ReLU()``, ``nn.Tanh()``, ``nn.LeakyReLU(0.2)``), found
    by ``torch.fx`` symbolic tracing; outputs are unchanged and parameters are shared with
    ``model``. In-place functions (``F.relu_``) are left alone. Models that ``torch.fx`` cannot
    trace (data-dependent control flow) raise a ``ValueError`` saying so: replace their functional
    calls by modules by hand.

    Example::

        >>> net = actlab.watch.modularize(net)   # then: with actlab.watch(net) as mon: ...
    """
    import torch.fx

    class _Tracer(torch.fx.Tracer):
        # activation modules stay whole (some, like maxout or the noisy units, cannot be traced into)
        def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
            return is_activation(m) or super().is_leaf_module(m, qualname)

    try:
        tracer = _Tracer()
        graph = tracer.trace(model)
        gm = torch.fx.GraphModule(tracer.root, graph, type(model).__name__)
    except Exception as e:  # fx raises many types (TraceError, TypeError, ...)
        raise ValueError(f"modularize: torch.fx cannot trace {type(model).__name__} "
                         f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); "
                         "replace its functional activations by modules by hand") from e
    n = 0
    for node in list(gm.graph.nodes):
        cls = None
        if node.op == "call_function" and node.target in _FUNCTIONS:
            cls = _FUNCTIONS[node.target]
        elif node.op == "call_method" and node.target in _METHODS:
            cls = _METHODS[node.target]
        if cls is None or not node.args:
            continue
        if any(isinstance(a, torch.fx.Node) for a in (*node.args[1:], *node.kwargs.values())):
            continue  # an argument computed in forward: a module cannot hold it
        try:
            module = cls(*node.args[1:], **node.kwargs)
        except TypeError:
            continue
        while hasattr(gm, f"act_{n}"):
            n += 1
        name = f"act_{n}"
        gm.add_submodule(name, module)
        with gm.graph.inserting_after(node):
            new = gm.graph.call_module(name, (node.args[0],))
        node.replace_all_uses_with(new)
        gm.graph.erase_node(node)
        n += 1
    gm.graph.lint()
    gm.recompile()
    return gm
