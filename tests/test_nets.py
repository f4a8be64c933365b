"""actlab.nets: MLP / CNN builders and the classic initialisations."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import actlab
from actlab import nets


def linears(model: nn.Module) -> list[nn.Linear]:
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


def test_mlp_structure() -> None:
    m = nets.mlp(10, 3, depth=4, width=16, act="tanh", norm="layer", seed=0)
    assert len(linears(m)) == 5
    assert [type(x).__name__ for x in m[:3]] == ["Linear", "LayerNorm", "Tanh"]
    assert m(torch.randn(7, 10)).shape == (7, 3)
    assert len(linears(nets.mlp(10, 3, depth=0, width=16))) == 1
    bn = nets.mlp(10, 3, depth=2, width=8, norm="batch", seed=0)
    assert isinstance(bn[1], nn.BatchNorm1d)


def test_seed_reproduces_and_leaves_global_rng_alone() -> None:
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = nets.mlp(20, 5, 3, 32, init="kaiming_normal", seed=7)
    assert torch.equal(before, torch.get_rng_state())
    b = nets.mlp(20, 5, 3, 32, init="kaiming_normal", seed=7)
    c = nets.mlp(20, 5, 3, 32, init="kaiming_normal", seed=8)
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a[0].weight, c[0].weight)


N_IN, N_OUT = 400, 600


@pytest.mark.parametrize(
    ("init", "kwargs", "var"),
    [
        ("default", {}, 1 / (3 * N_IN)),
        ("xavier_uniform", {}, 2 / (N_IN + N_OUT)),
        ("xavier_normal", {}, 2 / (N_IN + N_OUT)),
        ("kaiming_uniform", {}, 2 / N_IN),
        ("kaiming_normal", {}, 2 / N_IN),
        ("kaiming_normal", {"act": "leaky_relu", "act_params": {"negative_slope": 0.5}}, 2 / (1.25 * N_IN)),
        ("kaiming_normal", {"act": "tanh"}, 2 / N_IN),  # He's formula, not adapted to tanh
        ("lecun_normal", {}, 1 / N_IN),
        ("orthogonal", {}, 1 / N_OUT),  # rows of a semi-orthogonal 600x400 matrix: ||col|| = 1
        ("sigma", {"sigma_w2": 1.7}, 1.7 / N_IN),
    ],
)
def test_init_variance_matches_the_formula(init: str, kwargs: dict, var: float) -> None:
    layer = nn.Linear(N_IN, N_OUT)
    nets.init_weights(layer, init, seed=0, **kwargs)
    assert layer.weight.var().item() == pytest.approx(var, rel=0.03)
    if init == "default":
        assert layer.bias.abs().max() <= 1 / math.sqrt(N_IN)
    else:
        assert torch.count_nonzero(layer.bias) == 0


def test_orthogonal_is_orthogonal_and_biases_options() -> None:
    layer = nn.Linear(50, 50)
    nets.init_weights(layer, "orthogonal", gain=2.0, bias_init=0.1, seed=0)
    torch.testing.assert_close(layer.weight @ layer.weight.T, 4 * torch.eye(50), atol=1e-4, rtol=0)
    assert torch.all(layer.bias == 0.1)
    big = nn.Linear(10, 20000)
    nets.init_weights(big, "lecun_normal", sigma_b2=0.25, seed=0)
    assert big.bias.var().item() == pytest.approx(0.25, rel=0.05)


def test_sigma_w2_selects_mean_field_init() -> None:
    m = nets.mlp(300, 2, 1, 300, sigma_w2=2.0, sigma_b2=0.0, seed=0)
    assert m[0].weight.var().item() == pytest.approx(2.0 / 300, rel=0.03)
    assert torch.count_nonzero(m[0].bias) == 0


def test_kaiming_slope() -> None:
    assert nets.kaiming_slope("relu") == 0.0
    assert nets.kaiming_slope("leaky_relu", {"negative_slope": 0.2}) == 0.2
    assert nets.kaiming_slope("prelu") == 0.25
    assert nets.kaiming_slope("rrelu", {"lower": 0.1, "upper": 0.3}) == pytest.approx(0.2)
    assert nets.kaiming_slope(nn.LeakyReLU(0.3)) == pytest.approx(0.3)


def test_activation_by_name_params_alias_and_config() -> None:
    m = nets.mlp(4, 2, 2, 8, act="leaky_relu", act_params={"negative_slope": 0.2}, seed=0)
    assert m[1].get_config() == {"name": "leaky_relu", "negative_slope": 0.2}
    assert m[1] is not m[3]
    m2 = nets.mlp(4, 2, 1, 8, act={"name": "silu", "beta": 2.0, "learnable": True}, seed=0)
    assert isinstance(m2[1].beta, nn.Parameter)
    assert nets.mlp(4, 2, 1, 8, act="swish", seed=0)[1].name == actlab.canonical("swish")


def test_maxout_keeps_width_and_prelu_per_unit() -> None:
    m = nets.mlp(6, 2, 2, 8, act="maxout", act_params={"k": 3}, seed=0)
    assert m[0].out_features == 24 and m[2].in_features == 8
    assert m(torch.randn(5, 6)).shape == (5, 2)
    p = nets.mlp(6, 2, 2, 8, act="prelu", act_params={"num_parameters": 8}, seed=0)
    assert p[1].weight.shape == (8,)
    with pytest.raises(ValueError, match="num_parameters=5 does not fit width=8"):
        nets.mlp(6, 2, 2, 8, act="prelu", act_params={"num_parameters": 5})


def test_small_cnn_on_digit_shapes() -> None:
    x = torch.randn(4, 64)
    for act, params in [("relu", None), ("maxout", None), ("prelu", {"num_parameters": 8})]:
        m = nets.small_cnn((1, 8, 8), 10, channels=(8, 8, 8), act=act, act_params=params, norm="batch",
                           seed=0)
        assert m(x).shape == (4, 10)
    m = nets.small_cnn(norm="layer", init="kaiming_normal", seed=0)
    assert any(isinstance(l, nn.GroupNorm) for l in m)
    a = nets.small_cnn(seed=1)
    b = nets.small_cnn(seed=1)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"init": "he"}, "unknown init 'he'; valid: default"),
     ({"init": "sigma"}, "needs sigma_w2"),
     ({"init": "xavier_normal", "sigma_w2": 1.0}, "cannot be combined"),
     ({"sigma_w2": -1.0}, "sigma_w2=-1.0 is invalid"),
     ({"bias_init": 0.1, "sigma_b2": 0.1}, "not both"),
     ({"width": -3}, "width=-3 is invalid"),
     ({"depth": 1.5}, "depth=1.5 is invalid"),
     ({"norm": "group"}, "unknown norm 'group'"),
     ({"act": "relu7"}, "unknown activation 'relu7'"),
     ({"act": "elu", "act_params": {"alpha": -1.0}}, "alpha")],
)
def test_bad_input_is_one_clear_error(kwargs: dict, match: str) -> None:
    args = {"in_features": 4, "out_features": 2, "depth": 2, "width": 8, **kwargs}
    with pytest.raises((ValueError, KeyError), match=match):
        nets.mlp(**args)
