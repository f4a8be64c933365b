"""The catalog as ``nn.Module``s (issue 2, parts 3 and 4): torch.compile, train/eval behaviour and
reproducibility of stochastic entries, learnable parameters (state_dict, dtype moves), and the
config round trip for every entry (``actlab.get(module.get_config())``, serialize/deserialize,
including from ``torch.nn`` modules, pickling).
"""

from __future__ import annotations

import copy
import io
import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch._dynamo.testing import CompileCounterWithBackend

import actlab
from conftest import builtin_names, input_shape, sample_input

pytestmark = pytest.mark.usefixtures("torch_single_thread")

STOCHASTIC = [n for n in builtin_names() if actlab.spec(n).stochastic]


@pytest.fixture
def fresh_dynamo():
    # Every catalog module shares Activation.forward: without a reset, the recompile limit (8)
    # would silently send later tests to eager and they would pass without compiling anything.
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def _run(m: nn.Module, x: torch.Tensor, seed: int | None):
    x = x.clone().requires_grad_(True)
    if seed is not None:
        torch.manual_seed(seed)
    y = m(x)
    w = torch.linspace(-1.0, 1.0, y.numel()).reshape(y.shape)
    (y * w).sum().backward()
    return y.detach(), x.grad


# -------------------------------------------------------------------------------------------------
# torch.compile
# -------------------------------------------------------------------------------------------------
COMPILE_CASES = [
    ("relu", {}, False),
    ("sigmoid", {}, False),
    ("gelu", {}, False),
    ("gelu", {"approximate": "tanh"}, False),
    ("hard_sigmoid", {}, False),  # actlab's own autograd.Function (slope 1/4)
    ("softsign", {}, False),  # ditto
    ("prelu", {"num_parameters": 12}, False),  # learnable, per channel
    ("silu", {"learnable": True}, False),  # learnable scalar
    ("rrelu", {}, True),  # stochastic, train mode, seeded
    ("rrelu", {}, False),  # eval
    ("noisy_relu", {}, True),
    ("maxout", {"k": 3}, False),
    ("softmax", {}, False),
    ("log_softmax", {}, False),
]


# Shape-dependent checks (maxout's dim, the noisy units' per-unit p) cannot run on a torch.fx Proxy:
# those entries are not symbolically traceable (actlab.watch.modularize keeps them whole).
FX_UNTRACEABLE = {"maxout", "nan_hard_tanh", "nan_hard_sigmoid", "nan_relu", "nanil_hard_tanh",
                  "nanil_hard_sigmoid", "nanil_relu"}


@pytest.mark.parametrize("name", builtin_names())
def test_symbolic_trace(name):
    if name in FX_UNTRACEABLE:
        pytest.skip(f"{name}: shape-dependent checks, not fx-traceable")
    m = nn.Sequential(nn.Linear(4, 6), actlab.get(name), nn.Linear(6, 3)).eval()
    traced = torch.fx.symbolic_trace(m)
    x = torch.randn(5, 4)
    torch.testing.assert_close(traced(x), m(x))


@pytest.mark.parametrize("config", [{"name": "silu", "learnable": True},
                                    {"name": "prelu", "num_parameters": 6}])
def test_symbolic_trace_with_learned_values(config):
    m = nn.Sequential(nn.Linear(4, 6), actlab.get(config), nn.Linear(6, 3))
    torch.testing.assert_close(torch.fx.symbolic_trace(m)(x := torch.randn(5, 4)), m(x))


@pytest.mark.usefixtures("fresh_dynamo")
@pytest.mark.parametrize(("name", "params", "train"), COMPILE_CASES,
                         ids=[f"{n}{p or ''}-{'train' if t else 'eval'}" for n, p, t in COMPILE_CASES])
def test_compiles_to_one_graph_and_matches_eager(name, params, train):
    """fullgraph=True (no graph break) with the aot_eager backend (AOTAutograd traces forward and
    backward, including actlab's autograd.Functions and the random draws), same output, input
    gradient and parameter gradients as eager; the counter proves a graph was compiled."""
    if name not in actlab.names():
        pytest.skip(f"{name} not in the catalog")
    m = actlab.get(name, **params).train(train)
    counter = CompileCounterWithBackend("aot_eager")
    compiled = torch.compile(m, backend=counter, fullgraph=True)
    x = torch.randn(4, 12, generator=torch.Generator().manual_seed(1))
    seed = 7 if train else None
    y_c, g_c = _run(compiled, x, seed)
    grads_c = [p.grad.clone() for p in m.parameters()]
    m.zero_grad()
    y_e, g_e = _run(m, x, seed)
    assert counter.frame_count == 1
    assert torch.equal(y_c, y_e)
    torch.testing.assert_close(g_c, g_e, rtol=1e-6, atol=1e-7)
    for gc, p in zip(grads_c, m.parameters()):
        torch.testing.assert_close(gc, p.grad, rtol=1e-6, atol=1e-6)
    if train:
        assert not torch.equal(_run(compiled, x, seed + 1)[0], y_c)  # still random


@pytest.mark.usefixtures("fresh_dynamo")
@pytest.mark.parametrize("name", ["rrelu", "noisy_relu"])  # representative (compiling is slow)
def test_compile_with_generator(name):
    """A torch.Generator cannot be traced (Dynamo breaks the graph around the draw), but the
    compiled module still computes the eager result with the same generator state. For a single
    graph, seed the global RNG instead (test above)."""
    gen = torch.Generator()
    m = actlab.get(name, generator=gen).train()
    compiled = torch.compile(m, backend="aot_eager")
    x = torch.randn(4, 12, generator=torch.Generator().manual_seed(1))
    gen.manual_seed(3)
    y_c, g_c = _run(compiled, x, None)
    gen.manual_seed(3)
    y_e, g_e = _run(m, x, None)
    assert torch.equal(y_c, y_e) and torch.equal(g_c, g_e)


@pytest.mark.slow
@pytest.mark.usefixtures("fresh_dynamo")
def test_compile_inductor_gelu():
    """The default backend (Inductor: generates and compiles C++ for this CPU; ~15 s, hence slow)
    on one entry: same result as eager to float32 rounding."""
    m = actlab.get("gelu")
    compiled = torch.compile(m, fullgraph=True)
    x = torch.randn(64, 12, generator=torch.Generator().manual_seed(1))
    y_c, g_c = _run(compiled, x, None)
    y_e, g_e = _run(m, x, None)
    torch.testing.assert_close(y_c, y_e, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(g_c, g_e, rtol=1e-6, atol=1e-6)


# -------------------------------------------------------------------------------------------------
# stochastic entries: train/eval, reproducibility
# -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", STOCHASTIC)
def test_noise_only_in_train_mode(name):
    m = actlab.get(name)
    x = torch.linspace(-3, 3, 1001, dtype=torch.float64)
    eval_form = actlab.spec(name).fn(x)  # the functional form defaults to eval
    m.eval()
    assert torch.equal(m(x), m(x)) and torch.equal(m(x), eval_form)
    m.train()
    torch.manual_seed(0)
    a = m(x)
    b = m(x)
    assert not torch.equal(a, b), "train mode draws new noise every call"
    assert not torch.equal(a, eval_form)
    assert m.training and not actlab.get(name).eval().training


@pytest.mark.parametrize("name", STOCHASTIC)
def test_deterministic_under_manual_seed_and_generator(name):
    x = torch.linspace(-3, 3, 1001)
    m = actlab.get(name).train()
    torch.manual_seed(123)
    a = m(x)
    torch.manual_seed(123)
    assert torch.equal(a, m(x))
    # A generator makes the module independent of the global RNG, and leaves it untouched.
    m1 = actlab.get(name, generator=torch.Generator().manual_seed(5)).train()
    m2 = actlab.get(name, generator=torch.Generator().manual_seed(5)).train()
    state = torch.get_rng_state()
    y1 = m1(x)
    torch.manual_seed(999)  # must not matter
    y2 = m2(x)
    assert torch.equal(y1, y2)
    torch.set_rng_state(state)
    _ = m1(x)
    assert torch.equal(torch.get_rng_state(), state), "the global RNG was used"
    assert not torch.equal(m1(x), y1), "the generator advances"


def test_rrelu_eval_form_and_train_slopes():
    lower, upper = 0.1, 0.4
    x = -torch.rand(200_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64) - 0.01
    m = actlab.get("rrelu", lower=lower, upper=upper, generator=torch.Generator().manual_seed(1))
    assert torch.equal(m.eval()(x), F.leaky_relu(x, (lower + upper) / 2))
    xr = x.clone().requires_grad_(True)
    y = m.train()(xr)
    y.sum().backward()
    slope = y.detach() / x
    assert float(slope.min()) >= lower and float(slope.max()) <= upper
    torch.testing.assert_close(xr.grad, slope, rtol=1e-12, atol=0)  # d/dx (a x) = a
    # U[lower, upper]: mean, variance and a Kolmogorov-Smirnov distance (the 0.1% critical value
    # is 1.95/sqrt(n)); the seed is fixed, so this is deterministic.
    n = slope.numel()
    assert abs(float(slope.mean()) - (lower + upper) / 2) < 4 * (upper - lower) / math.sqrt(12 * n)
    assert abs(float(slope.var()) - (upper - lower) ** 2 / 12) < 0.02 * (upper - lower) ** 2 / 12
    u = torch.sort((slope - lower) / (upper - lower)).values
    ecdf = torch.arange(1, n + 1, dtype=torch.float64) / n
    assert float((ecdf - u).abs().max()) < 1.95 / math.sqrt(n)
    # positive inputs pass unchanged in training too
    assert torch.equal(m.train()(x.abs()), x.abs())


def test_rrelu_matches_torch_rrelu_distribution():
    """Same distribution as nn.RReLU in training (their random streams differ)."""
    x = -torch.ones(100_000, dtype=torch.float64)
    torch.manual_seed(0)
    ours = -actlab.get("rrelu").train()(x)
    torch.manual_seed(0)
    theirs = -nn.RReLU().train()(x)
    for q in (0.1, 0.5, 0.9):
        assert abs(float(ours.quantile(q)) - float(theirs.quantile(q))) < 0.005


def test_noisy_relu_noise_has_variance_sigmoid_x():
    """max(0, x + eps), eps ~ N(0, sigmoid(x)): E[y] = x Phi(x/s) + s phi(x/s), s = sqrt(sigmoid(x))."""
    m = actlab.get("noisy_relu", generator=torch.Generator().manual_seed(0)).train()
    for x0 in (-1.0, 0.0, 2.0):
        y = m(torch.full((400_000,), x0, dtype=torch.float64))
        s = math.sqrt(1 / (1 + math.exp(-x0)))
        z = x0 / s
        phi, Phi = math.exp(-z * z / 2) / math.sqrt(2 * math.pi), 0.5 * math.erfc(-z / math.sqrt(2))
        mean = x0 * Phi + s * phi
        assert abs(float(y.mean()) - mean) < 5 * float(y.std()) / math.sqrt(y.numel())
    big = torch.full((1000,), 50.0)
    assert abs(float((m(big) - big).std()) - 1.0) < 0.1  # variance sigmoid(50) = 1


# -------------------------------------------------------------------------------------------------
# learnable entries
# -------------------------------------------------------------------------------------------------
LEARNABLE = [("prelu", {}), ("prelu", {"num_parameters": 3, "init": 0.1}), ("silu", {"learnable": True}),
             ("silu", {"learnable": True, "beta": 0.5})]


@pytest.mark.parametrize(("name", "params"), LEARNABLE, ids=lambda v: str(v))
def test_learnable_state_dict_round_trip_and_training(name, params):
    m = actlab.get(name, **params)
    assert [p.requires_grad for p in m.parameters()] and all(p.requires_grad for p in m.parameters())
    x = sample_input(name, params, dtype=torch.float32)
    # one optimizer step moves the parameters
    before = [p.detach().clone() for p in m.parameters()]
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    (m(x) ** 2).mean().backward()
    opt.step()
    assert any(not torch.equal(a, p) for a, p in zip(before, m.parameters()))
    # rebuild from the config and the state dict: the same function
    m2 = actlab.get(m.get_config())
    assert not torch.equal(m2(x), m(x))  # fresh parameters
    m2.load_state_dict(m.state_dict())
    assert torch.equal(m2(x), m(x))
    buf = io.BytesIO()
    torch.save(m.state_dict(), buf)
    buf.seek(0)
    m3 = actlab.get(**actlab.serialize(m))
    m3.load_state_dict(torch.load(buf))
    assert torch.equal(m3(x), m(x))
    assert torch.equal(m3.derivative(x), m.derivative(x))


@pytest.mark.parametrize(("name", "params"), LEARNABLE, ids=lambda v: str(v))
@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16], ids=str)
def test_learnable_dtype_moves(name, params, dtype):
    m = actlab.get(name, **params)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.125)
    x = sample_input(name, params, dtype=torch.float32)
    ref = m(x)
    moved = copy.deepcopy(m).to(dtype)
    assert all(p.dtype == dtype for p in moved.parameters())
    y = moved(x.to(dtype))
    assert y.dtype == dtype
    tol = {torch.float64: 1e-6, torch.float16: 2e-3, torch.bfloat16: 2e-2}[dtype]
    torch.testing.assert_close(y.float(), ref, rtol=tol, atol=tol)
    xr = x.to(dtype).requires_grad_(True)
    moved(xr).sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in moved.parameters())
    assert torch.isfinite(xr.grad).all()
    assert moved.derivative(x.to(dtype)).dtype == dtype
    back = moved.double() if dtype != torch.float64 else m.double()
    assert all(p.dtype == torch.float64 for p in back.parameters())
    assert str(m.to("cpu").weight.device if name == "prelu" else m.to("cpu").beta.device) == "cpu"


def test_prelu_per_channel_uses_each_channel_slope():
    m = actlab.get("prelu", num_parameters=3)
    with torch.no_grad():
        m.weight.copy_(torch.tensor([0.0, 0.5, 2.0]))
    x = -torch.ones(2, 3, 4, 4)
    y = m(x)
    assert torch.equal(y[:, 0], torch.zeros(2, 4, 4)) and (y[:, 1] == -0.5).all() and (y[:, 2] == -2).all()
    assert torch.equal(m.derivative(x)[:, 2], torch.full((2, 4, 4), 2.0))
    with pytest.raises(RuntimeError):
        m(torch.randn(2, 4))  # 4 channels for 3 slopes: PyTorch's own error


# -------------------------------------------------------------------------------------------------
# config round trip, every entry
# -------------------------------------------------------------------------------------------------
def test_config_round_trip(catalog_case):
    """get_config() is JSON-ready, names the canonical entry, and rebuilds an equal module:
    same class, same config, same outputs (learnable values travel in the state dict)."""
    name, params = catalog_case
    m = actlab.get(name, **params).eval()
    cfg = m.get_config()
    assert cfg["name"] == name and set(cfg) == {"name", *actlab.spec(name).defaults}
    assert json.loads(json.dumps(cfg)) == cfg
    for rebuilt in (actlab.get(cfg), actlab.get(**cfg), actlab.deserialize(actlab.serialize(m)),
                    actlab.deserialize(json.loads(json.dumps(actlab.serialize(m))))):
        rebuilt.load_state_dict(m.state_dict())
        rebuilt.eval()
        assert type(rebuilt) is type(m) and rebuilt.get_config() == cfg
        x = sample_input(name, params, dtype=torch.float32)
        assert torch.equal(rebuilt(x), m(x))
    assert repr(m).startswith(type(m).__name__)
    for k, v in params.items():
        assert f"{k}={v!r}" in repr(m)


def test_pickle_and_deepcopy(catalog_case):
    name, params = catalog_case
    m = actlab.get(name, **params).eval()
    x = sample_input(name, params, dtype=torch.float32)
    buf = io.BytesIO()
    torch.save(m, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=False)
    assert torch.equal(loaded(x), m(x)) and loaded.get_config() == m.get_config()
    assert torch.equal(copy.deepcopy(m)(x), m(x))


TORCH_TO_CATALOG = [
    (nn.ReLU(), "relu"), (nn.LeakyReLU(0.2), "leaky_relu"), (nn.Hardsigmoid(), "hard_sigmoid"),
    (nn.ReLU6(), "relu6"), (nn.Hardtanh(-2.0, 3.0), "hard_tanh"), (nn.RReLU(0.2, 0.3), "rrelu"),
    (nn.GELU("tanh"), "gelu"), (nn.Softplus(2.0, 10.0), "softplus"), (nn.PReLU(3, 0.5), "prelu"),
    (nn.ELU(0.5), "elu"), (nn.CELU(2.0), "celu"), (nn.SiLU(), "silu"), (nn.Softmax(dim=1), "softmax"),
    (nn.LogSoftmax(dim=-1), "log_softmax"), (nn.Identity(), "identity"), (nn.Mish(), "mish"),
]


@pytest.mark.parametrize(("tm", "name"), TORCH_TO_CATALOG, ids=lambda v: repr(v))
def test_serialize_torch_modules(tm, name):
    cfg = actlab.serialize(tm)
    assert cfg["name"] == name
    am = actlab.deserialize(cfg).eval()
    if isinstance(tm, nn.PReLU):
        am.load_state_dict(tm.state_dict())
    x = torch.randn(2, 3, 8, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(am(x), tm.eval()(x), rtol=1e-6, atol=0)
    assert actlab.serialize(nn.LeakyReLU(0.2)) == {"name": "leaky_relu", "negative_slope": 0.2}


def test_torch_attribute_names_read_the_parameters():
    # code written for torch.nn reads act.negative_slope (e.g. kaiming_uniform_(w, a=act.negative_slope))
    lrelu = actlab.get("leaky_relu", negative_slope=0.2)
    assert lrelu.negative_slope == 0.2 == nn.LeakyReLU(0.2).negative_slope
    ht = actlab.get("hard_tanh", min=-2.0, max=3.0)
    assert (ht.min_val, ht.max_val) == (-2.0, 3.0)
    assert actlab.get("softmax", dim=1).dim == 1 and actlab.get("elu", alpha=0.5).alpha == 0.5
    for value in (0.3, torch.tensor(0.3), nn.Parameter(torch.tensor(0.3))):  # never silently unused
        with pytest.raises(AttributeError, match="negative_slope is fixed at construction"):
            lrelu.negative_slope = value
    with pytest.raises(AttributeError, match=r"actlab.get\('hard_tanh', min=\.\.\.\)"):  # the catalog's name
        ht.min_val = 0.0
    with pytest.raises(AttributeError, match="beta is fixed"):
        actlab.get("silu").beta = nn.Parameter(torch.tensor(2.0))
    swish = actlab.get("silu", learnable=True)
    swish.beta = nn.Parameter(torch.tensor(2.0))  # a learned value may be replaced
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = lrelu.nope
    # learned values keep their Parameter under the parameter's name; the noisy units' c stays settable
    assert isinstance(actlab.get("silu", learnable=True).beta, nn.Parameter)
    assert isinstance(actlab.get("nan_relu").p, nn.Parameter)


IN_PLACE = [("relu", {}), ("relu6", {}), ("leaky_relu", {"negative_slope": 0.2}), ("elu", {"alpha": 0.5}),
            ("selu", {}), ("celu", {}), ("hard_tanh", {"min": -2.0}), ("hard_sigmoid", {"slope": 1 / 6}),
            ("hard_swish", {}), ("mish", {})]


@pytest.mark.parametrize(("name", "params"), IN_PLACE, ids=[n for n, _ in IN_PLACE])
def test_inplace_like_torch(name, params):
    m, ref = actlab.get(name, inplace=True, **params), actlab.get(name, **params)
    assert m.inplace and "inplace=True" in repr(m) and actlab.get(m.get_config()).inplace
    lin = nn.Linear(6, 6)
    x = torch.randn(5, 6, dtype=torch.float64)
    lin = lin.double()
    z = lin(x)
    y = m(z)
    assert y is z  # the output overwrote the input
    torch.testing.assert_close(y, ref(lin(x)))
    (g,) = torch.autograd.grad(y.sum(), lin.weight)
    (g_ref,) = torch.autograd.grad(ref(lin(x)).sum(), lin.weight)
    torch.testing.assert_close(g, g_ref)


def test_inplace_where_torch_has_none_is_refused_and_torch_flags_carry():
    for name, params in (("sigmoid", {}), ("prelu", {}), ("hard_sigmoid", {}), ("silu", {})):
        with pytest.raises(ValueError, match="inplace=True is invalid; valid for relu"):
            actlab.get(name, inplace=True, **params)
    assert actlab.serialize(nn.ReLU(inplace=True)) == {"name": "relu", "inplace": True}
    assert actlab.deserialize(actlab.serialize(nn.LeakyReLU(0.1, inplace=True))).inplace
    assert actlab.serialize(nn.ReLU()) == {"name": "relu"}
    # torch in-place modules actlab computes out of place: the flag is dropped, the config loads
    for tm in (nn.SiLU(inplace=True), nn.RReLU(inplace=True)):
        assert "inplace" not in actlab.serialize(tm) and actlab.deserialize(actlab.serialize(tm)) is not None
    # theory integrates over its own quadrature nodes: an in-place module must not overwrite them
    assert actlab.theory.chi1(actlab.get("relu", inplace=True), 2.0) == pytest.approx(1.0)


def test_torchscript_is_refused_in_one_clear_line():
    with pytest.raises(RuntimeError, match=r"TorchScript cannot compile catalog modules.*torch\.compile"):
        torch.jit.script(nn.Sequential(nn.Linear(2, 2), actlab.get("relu")))


def test_serialize_torch_prelu_gives_its_constructor_config():
    # a config holds constructor arguments (Keras' get_config); the learned slopes travel in state_dict
    tm = nn.PReLU(3, init=0.1)
    with torch.no_grad():
        tm.weight.copy_(torch.tensor([0.1, 0.2, 0.3]))
    cfg = actlab.serialize(tm)
    assert cfg == {"name": "prelu", "num_parameters": 3, "init": pytest.approx(0.1)}
    am = actlab.deserialize(cfg)
    am.load_state_dict(tm.state_dict())
    x = torch.randn(4, 3)
    assert torch.equal(am(x), tm(x))
    # mean-field theory of a trained nn.PReLU uses (and names) the learned slope
    with torch.no_grad():
        tm.weight.fill_(0.6)
    assert actlab.theory.activation(tm).params["init"] == pytest.approx(0.6)


def test_serialize_rejects_non_activations():
    with pytest.raises(TypeError, match="Linear is not an activation"):
        actlab.serialize(nn.Linear(2, 2))
    # nn.Softmax() picks dim 0 or 1 by input rank: no catalog config computes the same
    with pytest.raises(ValueError, match=r"Softmax\(dim=None\).*explicit dim"):
        actlab.serialize(nn.Softmax())


def test_every_entry_accepts_a_batch(catalog_case):
    """Shapes: elementwise entries keep the shape; maxout divides its dim by k; softmax keeps it."""
    name, params = catalog_case
    m = actlab.get(name, **params).eval()
    shape = input_shape(name, params)
    y = m(torch.randn(shape))
    if name == "maxout":
        k = m.get_config()["k"]
        assert y.shape == (*shape[:-1], shape[-1] // k)
    else:
        assert y.shape == shape
