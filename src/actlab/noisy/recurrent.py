r"""LSTM and GRU with pluggable gate and candidate activations (cells and multi-step layers).

The noisy units' main use in the paper (Gulcehre et al. 2016, sections 7-8) is gated recurrent
nets with hard (and noisy hard) gates. These layers are ``torch.nn.LSTM`` / ``torch.nn.GRU`` with
each nonlinearity a catalog entry: a name (``"hard_sigmoid"``), a config dict
(``{"name": "nan_hard_sigmoid", "c": 1.0}``) or a module instance. With the defaults
(sigmoid gates, tanh candidate) they compute what PyTorch's do, with the same parameter names and
layout (``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``; gates i, f, g, o for the LSTM and
r, z, n for the GRU), so ``from_torch`` copies a trained PyTorch layer and ``load_state_dict``
takes a PyTorch layer's state dict (its ``weight_ih_l0`` ... map to ``cells.0.weight_ih`` ...).

LSTM (Hochreiter & Schmidhuber 1997, with forget gate):

.. math::
    i, f, o = \text{gate}(\cdot),\ g = \text{candidate}(\cdot),\quad
    c' = f \odot c + i \odot g,\quad h' = o \odot \text{cell}(c')

GRU (Cho et al. 2014, PyTorch's variant with the reset gate inside the product):

.. math::
    r, z = \text{gate}(\cdot),\quad n = \text{candidate}(W_{in}x + b_{in} + r \odot (W_{hn}h + b_{hn})),
    \quad h' = (1 - z) \odot n + z \odot h

A name or config builds one module per gate (so learned ``p`` and noise are per gate); a module
instance is used as it is for every gate it is given to. The per-step loop is plain Python: clear
and exact, not fast (PyTorch's fused kernels are several times faster for sigmoid/tanh).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from actlab.catalog.registry import get

ActivationLike = str | Mapping[str, Any] | nn.Module | None


def make_activation(act: ActivationLike, default: str) -> nn.Module:
    """A module from a catalog name, a config dict or a module (returned as is)."""
    if act is None:
        act = default
    if isinstance(act, nn.Module):
        return act
    if isinstance(act, (str, Mapping)):
        return get(act)
    raise TypeError(f"activation must be a catalog name, a config dict or an nn.Module, "
                    f"got {type(act).__name__}")


class _Cell(nn.Module):
    """Weights shaped and initialised as torch.nn.LSTMCell/GRUCell: U(-1/sqrt(H), 1/sqrt(H))."""

    n_chunks = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool, device: Any, dtype: Any) -> None:
        super().__init__()
        for name, v in (("input_size", input_size), ("hidden_size", hidden_size)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{type(self).__name__}: {name}={v!r} is invalid; valid: an integer >= 1")
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        kw = {"device": device, "dtype": dtype}
        n = self.n_chunks * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(n, input_size, **kw))
        self.weight_hh = nn.Parameter(torch.empty(n, hidden_size, **kw))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(n, **kw))
            self.bias_hh = nn.Parameter(torch.empty(n, **kw))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size)
        for w in self.parameters(recurse=False):
            nn.init.uniform_(w, -bound, bound)

    def _check(self, x: Tensor) -> tuple[Tensor, bool]:
        if x.dim() not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(f"{type(self).__name__}: input of shape {tuple(x.shape)}; valid: "
                             f"(batch, {self.input_size}) or ({self.input_size},)")
        return (x.unsqueeze(0), True) if x.dim() == 1 else (x, False)

    def _zeros(self, x: Tensor) -> Tensor:
        return x.new_zeros(x.shape[0], self.hidden_size)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class LSTMCell(_Cell):
    """One LSTM step with pluggable activations; ``torch.nn.LSTMCell`` with the defaults.

    Args:
        input_size, hidden_size, bias: as ``torch.nn.LSTMCell``.
        gate_activation: input, forget and output gates (default ``"sigmoid"``).
        candidate_activation: the candidate g (default ``"tanh"``).
        cell_activation: applied to the new cell state before the output gate (default: the
            candidate's kind).

    ``forward(x, (h, c)=None) -> (h', c')``; x of shape (batch, input_size) or (input_size,).
    """

    n_chunks = 4

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 gate_activation: ActivationLike = "sigmoid",
                 candidate_activation: ActivationLike = "tanh",
                 cell_activation: ActivationLike = None, device: Any = None, dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, bias, device, dtype)
        self.input_gate = make_activation(gate_activation, "sigmoid")
        self.forget_gate = make_activation(gate_activation, "sigmoid")
        self.output_gate = make_activation(gate_activation, "sigmoid")
        self.candidate = make_activation(candidate_activation, "tanh")
        self.cell = make_activation(cell_activation if cell_activation is not None
                                    else candidate_activation, "tanh")

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        x, unbatched = self._check(x)
        if state is None:
            h, c = self._zeros(x), self._zeros(x)
        else:
            h, c = (s.unsqueeze(0) if unbatched else s for s in state)
        gates = F.linear(x, self.weight_ih, self.bias_ih) + F.linear(h, self.weight_hh, self.bias_hh)
        i, f, g, o = gates.chunk(4, dim=1)
        c_new = self.forget_gate(f) * c + self.input_gate(i) * self.candidate(g)
        h_new = self.output_gate(o) * self.cell(c_new)
        return (h_new[0], c_new[0]) if unbatched else (h_new, c_new)


class GRUCell(_Cell):
    """One GRU step with pluggable activations; ``torch.nn.GRUCell`` with the defaults.

    Args:
        gate_activation: reset and update gates (default ``"sigmoid"``).
        candidate_activation: the candidate n (default ``"tanh"``).

    ``forward(x, h=None) -> h'``.
    """

    n_chunks = 3

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 gate_activation: ActivationLike = "sigmoid",
                 candidate_activation: ActivationLike = "tanh", device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, bias, device, dtype)
        self.reset_gate = make_activation(gate_activation, "sigmoid")
        self.update_gate = make_activation(gate_activation, "sigmoid")
        self.candidate = make_activation(candidate_activation, "tanh")

    def forward(self, x: Tensor, h: Tensor | None = None) -> Tensor:
        x, unbatched = self._check(x)
        if h is None:
            h = self._zeros(x)
        elif unbatched:
            h = h.unsqueeze(0)
        xr, xz, xn = F.linear(x, self.weight_ih, self.bias_ih).chunk(3, dim=1)
        hr, hz, hn = F.linear(h, self.weight_hh, self.bias_hh).chunk(3, dim=1)
        r = self.reset_gate(xr + hr)
        z = self.update_gate(xz + hz)
        n = self.candidate(xn + r * hn)
        h_new = (1.0 - z) * n + z * h
        return h_new[0] if unbatched else h_new


class _Recurrent(nn.Module):
    """Stacked cells run over a sequence, with torch.nn.LSTM/GRU's shapes and options."""

    cell_type: type[_Cell] = _Cell
    torch_type: type[nn.Module] = nn.Module

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, **cell_kw: Any) -> None:
        super().__init__()
        if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f"{type(self).__name__}: num_layers={num_layers!r} is invalid; "
                             "valid: an integer >= 1")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"{type(self).__name__}: dropout={dropout!r} is invalid; valid: [0, 1)")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.batch_first, self.dropout = batch_first, dropout
        self.cells = nn.ModuleList(
            self.cell_type(input_size if layer == 0 else hidden_size, hidden_size, bias, **cell_kw)
            for layer in range(num_layers)
        )
        self._register_load_state_dict_pre_hook(self._torch_keys)

    @staticmethod
    def _torch_keys(state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        """Load a ``torch.nn.LSTM``/``GRU`` state dict too: its ``weight_ih_l0`` ... are this layer's
        ``cells.0.weight_ih`` ... (same shapes and gate order)."""
        for key in [k for k in state_dict if k.startswith(prefix)]:
            m = re.fullmatch(r"(weight_ih|weight_hh|bias_ih|bias_hh)_l(\d+)", key[len(prefix):])
            if m is not None:
                state_dict[f"{prefix}cells.{m.group(2)}.{m.group(1)}"] = state_dict.pop(key)

    def _layout(self, x: Tensor) -> tuple[Tensor, bool]:
        """x as (time, batch, features); whether it was unbatched."""
        if not isinstance(x, Tensor):
            packed = type(x).__name__ == "PackedSequence"
            raise TypeError(f"{type(self).__name__}: input must be a Tensor, got {type(x).__name__}"
                            + ("; pad a PackedSequence first (torch.nn.utils.rnn.pad_packed_sequence)"
                               if packed else ""))
        if x.dim() == 2:
            return x.unsqueeze(1), True
        if x.dim() != 3:
            raise ValueError(f"{type(self).__name__}: input of shape {tuple(x.shape)}; valid: "
                             f"({'batch, time' if self.batch_first else 'time, batch'}, "
                             f"{self.input_size}) or (time, {self.input_size})")
        return (x.transpose(0, 1) if self.batch_first else x), False

    def _output(self, out: Tensor, unbatched: bool) -> Tensor:
        if unbatched:
            return out[:, 0]
        return out.transpose(0, 1) if self.batch_first else out

    def _between_layers(self, out: Tensor, layer: int) -> Tensor:
        if self.dropout and layer < self.num_layers - 1:
            return F.dropout(out, self.dropout, self.training)
        return out

    @classmethod
    def _check_torch(cls, m: nn.Module) -> None:
        if not isinstance(m, cls.torch_type):
            raise TypeError(f"{cls.__name__}.from_torch expects a {cls.torch_type.__name__}, "
                            f"got {type(m).__name__}")
        if m.bidirectional or getattr(m, "proj_size", 0):
            raise ValueError(f"{cls.__name__}.from_torch: bidirectional and proj_size are not "
                             "supported; valid: a unidirectional layer without projection")

    @classmethod
    def from_torch(cls, m: nn.Module, **activations: Any) -> _Recurrent:
        """A copy of a ``torch.nn.LSTM``/``GRU`` (weights included), with these activations."""
        cls._check_torch(m)
        new = cls(m.input_size, m.hidden_size, num_layers=m.num_layers, bias=m.bias,
                  batch_first=m.batch_first, dropout=m.dropout, **activations)
        ref = next(m.parameters())
        new.to(device=ref.device, dtype=ref.dtype)
        with torch.no_grad():
            for layer, cell in enumerate(new.cells):
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    if getattr(cell, name) is not None:
                        getattr(cell, name).copy_(getattr(m, f"{name}_l{layer}"))
        return new

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}"
        return s + (", batch_first=True" if self.batch_first else "") + (
            f", dropout={self.dropout}" if self.dropout else "")


class LSTM(_Recurrent):
    """Multi-layer LSTM over a sequence; ``torch.nn.LSTM`` (unidirectional, no projection) with
    pluggable ``gate_activation``, ``candidate_activation``, ``cell_activation`` (see
    :class:`LSTMCell`).

    ``forward(x, (h0, c0)=None) -> (output, (h_n, c_n))`` with PyTorch's shapes: x is
    (time, batch, input_size), (batch, time, input_size) with ``batch_first``, or
    (time, input_size); h0, c0, h_n, c_n are (num_layers, batch, hidden_size).
    """

    cell_type = LSTMCell
    torch_type = nn.LSTM

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0,
                 gate_activation: ActivationLike = "sigmoid",
                 candidate_activation: ActivationLike = "tanh",
                 cell_activation: ActivationLike = None) -> None:
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         gate_activation=gate_activation, candidate_activation=candidate_activation,
                         cell_activation=cell_activation)

    def forward(self, x: Tensor, hx: tuple[Tensor, Tensor] | None = None
                ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        seq, unbatched = self._layout(x)
        if hx is not None and unbatched:
            hx = (hx[0].unsqueeze(1), hx[1].unsqueeze(1))
        h_n, c_n = [], []
        out = seq
        for layer, cell in enumerate(self.cells):
            state = None if hx is None else (hx[0][layer], hx[1][layer])
            steps = []
            for t in range(out.shape[0]):
                state = cell(out[t], state)
                steps.append(state[0])
            out = self._between_layers(torch.stack(steps), layer)
            h_n.append(state[0])
            c_n.append(state[1])
        hn, cn = torch.stack(h_n), torch.stack(c_n)
        if unbatched:
            hn, cn = hn[:, 0], cn[:, 0]
        return self._output(out, unbatched), (hn, cn)


class GRU(_Recurrent):
    """Multi-layer GRU over a sequence; ``torch.nn.GRU`` (unidirectional) with pluggable
    ``gate_activation`` and ``candidate_activation`` (see :class:`GRUCell`).

    ``forward(x, h0=None) -> (output, h_n)`` with PyTorch's shapes.
    """

    cell_type = GRUCell
    torch_type = nn.GRU

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0,
                 gate_activation: ActivationLike = "sigmoid",
                 candidate_activation: ActivationLike = "tanh") -> None:
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         gate_activation=gate_activation, candidate_activation=candidate_activation)

    def forward(self, x: Tensor, hx: Tensor | None = None) -> tuple[Tensor, Tensor]:
        seq, unbatched = self._layout(x)
        if hx is not None and unbatched:
            hx = hx.unsqueeze(1)
        h_n = []
        out = seq
        for layer, cell in enumerate(self.cells):
            h = None if hx is None else hx[layer]
            steps = []
            for t in range(out.shape[0]):
                h = cell(out[t], h)
                steps.append(h)
            out = self._between_layers(torch.stack(steps), layer)
            h_n.append(h)
        hn = torch.stack(h_n)
        return self._output(out, unbatched), (hn[:, 0] if unbatched else hn)
