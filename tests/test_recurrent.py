"""LSTM/GRU with pluggable activations (issue 3, part 3): exact agreement with torch.nn with the
default activations, and hard / noisy hard gates."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import actlab
from actlab.noisy import NoiseAnnealer
from actlab.noisy.recurrent import GRU, LSTM, GRUCell, LSTMCell


def _close(a: torch.Tensor, b: torch.Tensor) -> None:
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("bias", [True, False])
def test_cells_match_torch(bias):
    torch.manual_seed(0)
    for ours_t, theirs_t in ((LSTMCell, nn.LSTMCell), (GRUCell, nn.GRUCell)):
        theirs = theirs_t(5, 7, bias=bias)
        ours = ours_t(5, 7, bias=bias)
        ours.load_state_dict(theirs.state_dict())  # same names and layout
        x = torch.randn(3, 5)
        state = (torch.randn(3, 7), torch.randn(3, 7)) if ours_t is LSTMCell else torch.randn(3, 7)
        for s in (None, state):
            a, b = ours(x, s), theirs(x, s)
            for u, v in zip(a if isinstance(a, tuple) else (a,), b if isinstance(b, tuple) else (b,)):
                _close(u, v)
        # unbatched input
        a, b = ours(x[0]), theirs(x[0])
        for u, v in zip(a if isinstance(a, tuple) else (a,), b if isinstance(b, tuple) else (b,)):
            _close(u, v)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_layers_match_torch_forward_and_backward(kind, batch_first, num_layers):
    torch.manual_seed(1)
    theirs_t, ours_t = (nn.LSTM, LSTM) if kind == "lstm" else (nn.GRU, GRU)
    theirs = theirs_t(4, 6, num_layers=num_layers, batch_first=batch_first)
    ours = ours_t.from_torch(theirs)
    x = torch.randn((3, 9, 4) if batch_first else (9, 3, 4))
    h0 = torch.randn(num_layers, 3, 6)
    hx = (h0, torch.randn(num_layers, 3, 6)) if kind == "lstm" else h0
    xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    out_a, st_a = ours(xa, hx)
    out_b, st_b = theirs(xb, hx)
    _close(out_a, out_b)
    for u, v in zip(st_a if kind == "lstm" else (st_a,), st_b if kind == "lstm" else (st_b,)):
        _close(u, v)
    out_a.square().sum().backward()
    out_b.square().sum().backward()
    _close(xa.grad, xb.grad)
    for layer, cell in enumerate(ours.cells):
        _close(cell.weight_hh.grad, getattr(theirs, f"weight_hh_l{layer}").grad)
        _close(cell.bias_ih.grad, getattr(theirs, f"bias_ih_l{layer}").grad)
    # unbatched (time, features) and the default zero state
    seq = x[0] if batch_first else x[:, 0]
    _close(ours(seq)[0], theirs(seq)[0])


def test_hard_gates_are_used():
    """With hard_sigmoid/hard_tanh the cell computes the LSTM equations with those units."""
    torch.manual_seed(2)
    cell = LSTMCell(3, 4, gate_activation="hard_sigmoid", candidate_activation="hard_tanh")
    x, h, c = torch.randn(5, 3) * 3, torch.randn(5, 4), torch.randn(5, 4)
    gates = x @ cell.weight_ih.T + cell.bias_ih + h @ cell.weight_hh.T + cell.bias_hh
    i, f, g, o = gates.chunk(4, 1)
    hs = lambda t: (0.25 * t + 0.5).clamp(0, 1)  # noqa: E731
    c_ref = hs(f) * c + hs(i) * g.clamp(-1, 1)
    h_ref = hs(o) * c_ref.clamp(-1, 1)
    h_new, c_new = cell(x, (h, c))
    _close(h_new, h_ref)
    _close(c_new, c_ref)
    assert isinstance(cell.cell, type(actlab.get("hard_tanh")))


def test_noisy_gates_train_eval_and_annealing():
    torch.manual_seed(3)
    lstm = LSTM(3, 8, batch_first=True,
                gate_activation={"name": "nan_hard_sigmoid", "num_parameters": 8},
                candidate_activation="nan_hard_tanh")
    assert lstm.cells[0].input_gate is not lstm.cells[0].forget_gate  # one module per gate
    assert lstm.cells[0].input_gate.p.shape == (8,)
    x = torch.randn(2, 5, 3) * 4
    lstm.eval()
    assert torch.equal(lstm(x)[0], lstm(x)[0])
    lstm.train()
    y1, y2 = lstm(x)[0], lstm(x)[0]
    assert not torch.equal(y1, y2)
    y1.sum().backward()
    assert all(q.grad is not None for q in lstm.parameters())
    annealer = NoiseAnnealer(lstm, "linear", start=2.0, end=0.0, steps=1)
    assert len(annealer.units) == 5  # 3 gates, candidate, cell
    annealer.step()
    # c = 0: train mode equals eval (nan_hard_tanh's eval form with normal noise: E[xi] = 0)
    for m in lstm.modules():
        if isinstance(m, actlab.noisy.NoisyActivation):
            m.params["noise"] = "normal"
    y_train = lstm(x)[0]
    lstm.eval()
    torch.testing.assert_close(y_train, lstm(x)[0])


def test_shared_module_instance_and_bad_arguments():
    act = actlab.get("hard_sigmoid")
    cell = GRUCell(2, 3, gate_activation=act)
    assert cell.reset_gate is act and cell.update_gate is act
    with pytest.raises(TypeError, match=r"catalog name, a config dict or an nn\.Module"):
        GRUCell(2, 3, gate_activation=3.0)
    with pytest.raises(ValueError, match=r"unknown activation 'hard_sigmod'"):
        LSTMCell(2, 3, gate_activation="hard_sigmod")
    with pytest.raises(ValueError, match=r"input of shape \(4, 5\); valid: \(batch, 2\)"):
        LSTMCell(2, 3)(torch.randn(4, 5))
    with pytest.raises(ValueError, match="num_layers=0 is invalid"):
        LSTM(2, 3, num_layers=0)
    with pytest.raises(ValueError, match="bidirectional"):
        GRU.from_torch(nn.GRU(2, 3, bidirectional=True))
    with pytest.raises(TypeError, match="expects a LSTM"):
        LSTM.from_torch(nn.GRU(2, 3))


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_loads_a_torch_state_dict_and_refuses_packed_sequences(kind: str) -> None:
    torch.manual_seed(0)
    ref = (nn.LSTM if kind == "lstm" else nn.GRU)(5, 8, num_layers=2)
    ours = (LSTM if kind == "lstm" else GRU)(5, 8, num_layers=2)
    ours.load_state_dict(ref.state_dict())  # weight_ih_l0 ... -> cells.0.weight_ih ...
    x = torch.randn(6, 3, 5)
    torch.testing.assert_close(ours(x)[0], ref(x)[0])
    nested = nn.Sequential(ours)
    nested.load_state_dict({f"0.{k}": v for k, v in ref.state_dict().items()})  # under a prefix too
    ours.load_state_dict(ours.state_dict())  # its own keys still load
    packed = nn.utils.rnn.pack_padded_sequence(x, [6, 4, 2])
    with pytest.raises(TypeError, match="pad a PackedSequence first"):
        ours(packed)
