"""The registry API and bad input (issue 2, parts 3 and 5).

names/aliases/spec/get; every kind of bad input gets a clear one-line error naming the problem
and the valid choices (unknown names with the closest matches, invalid parameters with their
valid range, integer and non-tensor inputs as TypeError); user registration works everywhere a
built-in does, with unstated properties measured and flagged.
"""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
import torch
from torch.autograd import gradcheck

import actlab
from actlab.catalog import registry
from conftest import builtin_names, input_shape, spec_params

pytestmark = pytest.mark.usefixtures("torch_single_thread")

REQUIRED = [
    "identity", "step", "sigmoid", "tanh", "hard_sigmoid", "hard_tanh", "relu", "relu6", "leaky_relu",
    "prelu", "rrelu", "elu", "selu", "celu", "gelu", "silu", "mish", "softplus", "softsign", "maxout",
    "softmax", "log_softmax", "noisy_relu",
]


def one_line_error(excinfo) -> str:
    msg = str(excinfo.value)
    assert msg and "\n" not in msg, f"not one line: {msg!r}"
    return msg


# -------------------------------------------------------------------------------------------------
# names, aliases, specs
# -------------------------------------------------------------------------------------------------
def test_names_and_required_entries():
    names = actlab.names()
    assert len(set(builtin_names())) >= 25 and len(names) == len(set(names))
    assert set(REQUIRED) <= set(names)
    assert not set(actlab.aliases()) & set(names)
    assert set(actlab.names(include_aliases=True)) == set(names) | set(actlab.aliases())


@pytest.mark.parametrize(("alias", "name"), [("logistic", "sigmoid"), ("linear", "identity"),
                                             ("swish", "silu"), ("lrelu", "leaky_relu"),
                                             ("heaviside", "step"), ("Leaky-ReLU", "leaky_relu")])
def test_aliases_resolve(alias, name):
    assert actlab.canonical(alias) == name
    assert actlab.spec(alias) is actlab.spec(name)
    m = actlab.get(alias)
    assert m.get_config()["name"] == name and type(m) is type(actlab.get(name))


def test_spec_contents(catalog_name):
    s = actlab.spec(catalog_name)
    assert s.name == catalog_name and s.formula and s.doc
    assert isinstance(s.properties(), actlab.Properties)
    d = s.to_dict()
    assert json.loads(json.dumps(d))["name"] == catalog_name
    for p in s.params:
        p.validate(p.default, catalog_name)  # defaults are valid
        assert p.range_text()
    # spec.output_range etc. are the properties at the defaults
    assert s.output_range == s.properties().output_range
    with pytest.raises(AttributeError):
        _ = s.no_such_property


def test_functional_namespace_matches_catalog():
    for name in ["identity", "step", "sigmoid", "tanh", "relu", "gelu", "softmax", "maxout", "swish"]:
        assert callable(getattr(actlab.functional, name))
    for name in REQUIRED:
        assert getattr(actlab.functional, "d_" + name) is not None
    x = torch.linspace(-3, 3, 7)
    assert torch.equal(actlab.functional.swish(x), actlab.functional.silu(x))


def test_functional_takes_the_spec_parameters(catalog_case):
    """fn(x, **resolved params) and derivative(x, **resolved params) work for every entry."""
    name, params = catalog_case
    s = actlab.spec(name)
    x = torch.randn(input_shape(name, params))
    kw = spec_params(name, params)
    assert s(x, **kw).dtype == x.dtype
    assert s.derivative(x, **kw).shape == x.shape


# -------------------------------------------------------------------------------------------------
# bad input
# -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("bad", "suggested"), [("rleu", "relu"), ("sigmod", "sigmoid"),
                                                ("gleu", "gelu"), ("leaky_rel", "leaky_relu"),
                                                ("softmx", "softmax")])
def test_unknown_name_suggests_closest(bad, suggested):
    for call in (actlab.get, actlab.spec, actlab.canonical):
        with pytest.raises(actlab.UnknownActivationError) as e:
            call(bad)
        msg = one_line_error(e)
        assert repr(bad) in msg and suggested in msg.split("did you mean")[1]
    with pytest.raises(KeyError):  # also a KeyError and a ValueError, for except clauses
        actlab.get(bad)
    with pytest.raises(ValueError):
        actlab.get(bad)


def test_unknown_name_without_close_match():
    with pytest.raises(actlab.UnknownActivationError) as e:
        actlab.get("xyzzy_quux")
    assert "did you mean" not in one_line_error(e)


BAD_PARAMS = [
    ("rrelu", {"lower": 0.5, "upper": 0.1}, "lower=0.5 > upper=0.1", "lower <= upper"),
    ("rrelu", {"lower": -0.1}, "lower", "[0, 1]"),
    ("rrelu", {"upper": 1.5}, "upper", "[0, 1]"),
    ("softplus", {"beta": 0}, "beta=0", "(0, inf)"),
    ("softplus", {"beta": -1.0}, "beta=-1", "(0, inf)"),
    ("softplus", {"threshold": 0}, "threshold=0", "(0, inf)"),
    ("hard_tanh", {"min": 1.0, "max": 1.0}, "min=1.0 >= max=1.0", "min < max"),
    ("hard_tanh", {"min": 2.0, "max": -1.0}, "min=2.0", "min < max"),
    ("hard_sigmoid", {"slope": 0.0}, "slope=0", "(0, inf)"),
    ("maxout", {"k": 0}, "k=0", "[1, inf)"),
    ("maxout", {"k": 2.5}, "k=2.5", "integer"),
    ("maxout", {"k": "2"}, "k='2'", "integer"),
    ("leaky_relu", {"negative_slope": "a"}, "negative_slope='a'", "a number"),
    ("leaky_relu", {"negative_slope": -0.1}, "negative_slope=-0.1", "[0, inf)"),
    ("elu", {"alpha": float("nan")}, "alpha=nan", "finite"),
    ("elu", {"alpha": math.inf}, "alpha=inf", "finite"),
    ("elu", {"alpha": True}, "alpha=True", "a number"),
    ("celu", {"alpha": 0.0}, "alpha=0", "(0, inf)"),
    ("gelu", {"approximate": "fast"}, "approximate='fast'", "'none', 'tanh'"),
    ("silu", {"learnable": "yes"}, "learnable='yes'", "True or False"),
    ("silu", {"beta": 0.0}, "beta=0", "(0, inf)"),
    ("prelu", {"num_parameters": 0}, "num_parameters=0", "[1, inf)"),
    ("relu", {"slope": 0.1}, "unknown parameter 'slope'", "valid parameters: none"),
    ("leaky_relu", {"alpha": 0.1}, "unknown parameter 'alpha'", "valid parameters: negative_slope"),
    ("softmax", {"dim": 1.5}, "dim=1.5", "integer"),
    ("rrelu", {"generator": 5}, "generator=5", "torch.Generator"),
]


@pytest.mark.parametrize(("name", "params", "what", "valid"), BAD_PARAMS,
                         ids=[f"{n}-{next(iter(p))}" for n, p, _, _ in BAD_PARAMS])
def test_invalid_parameters(name, params, what, valid):
    """ValueError, one line, naming the entry, the parameter and value, and the valid range, from
    get(), from a config dict, from the module class and from the functional forms."""
    calls = [lambda: actlab.get(name, **params), lambda: actlab.get({"name": name, **params})]
    if "unknown" not in what:  # (the module classes have explicit signatures: Python's TypeError)
        calls.append(lambda: actlab.spec(name).module(**params))
    if "generator" not in params and "unknown" not in what:
        x = torch.randn(2, 4)
        calls += [lambda: actlab.spec(name)(x, **params), lambda: actlab.spec(name).derivative(x, **params)]
    for call in calls:
        with pytest.raises(ValueError) as e:
            call()
        msg = one_line_error(e)
        assert name in msg and what in msg and valid in msg, msg


def test_invalid_configs():
    with pytest.raises(ValueError, match="has no 'name'") as e:
        actlab.get({"negative_slope": 0.2})
    one_line_error(e)
    with pytest.raises(TypeError, match=r"a config dict or an nn\.Module, got int"):
        actlab.get(123)


def test_numpy_scalars_are_numbers_and_modules_take_no_parameters():
    assert actlab.get("leaky_relu", negative_slope=np.float32(0.25)).params["negative_slope"] == 0.25
    assert actlab.get("maxout", k=np.int64(3)).params["k"] == 3
    with pytest.raises(ValueError, match=r"init=tensor\(0.1000\) is invalid; valid: any finite number "
                                         r"\(a Python number, not a tensor\)"):
        actlab.get("prelu", init=torch.tensor(0.1))
    with pytest.raises(ValueError, match=r"parameters \['negative_slope'\] cannot be given with a module"):
        actlab.get(torch.nn.ReLU(), negative_slope=0.1)
    with pytest.raises(TypeError, match=r"got builtin_function_or_method \(a function: register it first"):
        actlab.get(torch.relu)


def test_every_public_functional_form_has_a_docstring():
    import inspect

    import actlab.functional as AFn

    forms = [n for n in dir(AFn) if not n.startswith("_") and inspect.isfunction(getattr(AFn, n))]
    assert len(forms) > 70
    assert [n for n in forms if not (getattr(AFn, n).__doc__ or "").strip()] == []
    assert "negative_slope=0.01" in AFn.leaky_relu.__doc__ and "Maas" in AFn.leaky_relu.__doc__
    assert AFn.d_prelu.__doc__.startswith("``d_prelu(x, weight=None, num_parameters=1, init=0.25)``")


def test_maxout_features_not_divisible_by_k():
    m = actlab.get("maxout", k=3)
    with pytest.raises(ValueError) as e:
        m(torch.randn(2, 7))
    msg = one_line_error(e)
    assert "(7)" in msg and "k=3" in msg and "multiple of 3" in msg
    with pytest.raises(ValueError, match="dim=2 is invalid"):
        actlab.get("maxout", dim=2)(torch.randn(2, 4))
    with pytest.raises(ValueError, match="at least 1 dimension"):
        actlab.get("maxout")(torch.tensor(1.0))


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.uint8, torch.bool], ids=str)
def test_integer_tensors_raise_type_error(catalog_name, dtype):
    """Documented choice: no silent promotion (relu on an int tensor would work, sigmoid would
    promote, step would return ints): a TypeError saying to convert first."""
    x = torch.ones(input_shape(catalog_name), dtype=dtype)
    m = actlab.get(catalog_name)
    for call in (lambda: m(x), lambda: actlab.spec(catalog_name)(x), lambda: m.derivative(x)):
        with pytest.raises(TypeError) as e:
            call()
        msg = one_line_error(e)
        assert "floating-point" in msg and str(dtype) in msg and ".float()" in msg


@pytest.mark.parametrize("bad", [[1.0, 2.0], 1.5, np.ones((3, 12))], ids=["list", "float", "ndarray"])
def test_non_tensors_raise_type_error(catalog_name, bad):
    m = actlab.get(catalog_name)
    for call in (lambda: m(bad), lambda: actlab.spec(catalog_name).derivative(bad)):
        with pytest.raises(TypeError) as e:
            call()
        assert "expected a torch.Tensor" in one_line_error(e)


# -------------------------------------------------------------------------------------------------
# register()
# -------------------------------------------------------------------------------------------------
def squareplus(x: torch.Tensor) -> torch.Tensor:
    """So 2021: 0.5 (x + sqrt(x^2 + 4)), a smooth, algebraic ReLU."""
    return 0.5 * (x + torch.sqrt(x * x + 4))


def d_squareplus(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (1 + x / torch.sqrt(x * x + 4))


@pytest.fixture
def user_entry():
    """Registers a user activation for one test and always removes it again."""
    made = []

    def make(name, *args, **kwargs):
        s = actlab.register(name, *args, **kwargs)
        made.append(name)
        return s

    yield make
    for name in made:
        if name in actlab.names():
            actlab.unregister(name)


@pytest.mark.parametrize("with_derivative", [False, True], ids=["autograd", "closed-form"])
def test_register_works_like_a_builtin(user_entry, with_derivative):
    s = user_entry("squareplus", squareplus, d_squareplus if with_derivative else None,
                   formula=r"\tfrac12(x + \sqrt{x^2 + 4})", aliases=("sqplus",),
                   output_range=(0.0, math.inf), monotonic=True)
    assert s.user and "squareplus" in actlab.names() and actlab.canonical("sqplus") == "squareplus"
    m = actlab.get("squareplus")
    assert isinstance(m, actlab.Activation)
    x = torch.linspace(-30, 30, 601, dtype=torch.float64)
    assert torch.equal(m(x), squareplus(x))
    # derivative: the given closed form, or autograd
    torch.testing.assert_close(actlab.spec("squareplus").derivative(x), d_squareplus(x), rtol=1e-13, atol=0)
    torch.testing.assert_close(m.derivative(x), d_squareplus(x), rtol=1e-13, atol=0)
    assert gradcheck(m, (x[::50].clone().requires_grad_(True),))
    # properties: declared ones kept, the rest measured, flagged and right
    p = actlab.spec("squareplus").properties()
    assert p.output_range == (0.0, math.inf) and p.monotonic
    assert "output_range" not in p.measured and "monotonic" not in p.measured
    assert {"sup_derivative", "saturation", "fixed_points", "zero_centred", "kinks"} <= p.measured
    assert p.sup_derivative == pytest.approx(1.0, abs=1e-12)  # approached as x -> inf
    assert [str(v) for v in p.saturation] == ["soft", "none"]
    assert p.fixed_points == () and not p.zero_centred and p.kinks == () and p.smoothness == math.inf
    assert p.range_attained == (False, False) and p.differentiable_at_0
    # round trips
    cfg = actlab.serialize(m)
    assert cfg == {"name": "squareplus"} and type(actlab.deserialize(cfg)) is type(m)
    buf = io.BytesIO()
    torch.save(m, buf)
    buf.seek(0)
    assert torch.equal(torch.load(buf, weights_only=False)(x), m(x))
    assert json.loads(json.dumps(actlab.spec("sqplus").to_dict()))["user"] is True


def test_register_with_parameters(user_entry):
    """LeCun's scaled tanh a*tanh(b*x), with parameters: validated as numbers, measured per
    setting, config round trip."""
    user_entry("scaled_tanh", lambda x, a=1.7159, b=2 / 3: a * torch.tanh(b * x),
               params={"a": 1.7159, "b": 2 / 3})
    m = actlab.get("scaled_tanh", a=2.0)
    assert m.get_config() == {"name": "scaled_tanh", "a": 2.0, "b": 2 / 3}
    x = torch.linspace(-3, 3, 13)
    assert torch.equal(actlab.get(m.get_config())(x), m(x))
    p = actlab.spec("scaled_tanh").properties(a=2.0, b=0.5)
    assert p.output_range == pytest.approx((-2.0, 2.0), abs=1e-12) and p.zero_centred
    assert p.sup_derivative == pytest.approx(1.0, abs=1e-9) and p.fixed_points == ((0.0, 0.0),)
    p2 = actlab.spec("scaled_tanh").properties(a=2.0, b=1.0)  # slope 2 at 0: two more fixed points
    assert len(p2.fixed_points) == 3
    for a, _ in p2.fixed_points:
        assert abs(2 * math.tanh(a) - a) < 1e-9
    with pytest.raises(ValueError, match="a='big' is invalid"):
        actlab.get("scaled_tanh", a="big")
    with pytest.raises(ValueError, match="unknown parameter 'c'"):
        actlab.get("scaled_tanh", c=1.0)


def test_register_measures_kinks_and_hard_saturation(user_entry):
    user_entry("clipped", lambda x: torch.clamp(x, -0.5, 2.0))
    p = actlab.spec("clipped").properties()
    assert p.kinks == (-0.5, 2.0) and p.smoothness == 0 and p.differentiable_at_0
    assert [str(s) for s in p.saturation] == ["hard@-0.5", "hard@2"]
    assert p.output_range == (-0.5, 2.0) and p.range_attained == (True, True)
    assert p.fixed_points == ((-0.5, 2.0),) and p.sup_derivative == 1.0


def test_register_errors(user_entry):
    with pytest.raises(ValueError, match="already registered") as e:
        actlab.register("relu", torch.relu)
    one_line_error(e)
    with pytest.raises(ValueError, match="already registered"):
        actlab.register("swish2", torch.relu, aliases=("swish",))  # an alias is taken too
    with pytest.raises(ValueError, match="built-in and cannot be replaced"):
        actlab.register("relu", torch.relu, replace=True)
    with pytest.raises(ValueError, match="lower case letters"):
        actlab.register("My Act", torch.relu)
    with pytest.raises(TypeError, match="must be callable"):
        actlab.register("not_callable", 3)
    with pytest.raises(ValueError, match="unknown property 'range'"):
        actlab.register("bad_prop", torch.relu, range=(0, 1))
    with pytest.raises(ValueError, match=r"saturation=.*is invalid"):
        actlab.register("bad_prop", torch.relu, saturation=("hard", "medium"))
    with pytest.raises(ValueError, match="derivative disagrees with autograd") as e:
        actlab.register("bad_prop", squareplus, lambda x: torch.sigmoid(x))
    one_line_error(e)
    with pytest.raises(ValueError, match="must be elementwise"):
        actlab.register("bad_prop", lambda x: x.sum())
    with pytest.raises(ValueError, match=r"fn\(x\) failed"):
        actlab.register("bad_prop", lambda x, a: a * x)  # a parameter without a default
    assert "not_callable" not in actlab.names() and "bad_prop" not in actlab.names()
    user_entry("mine", torch.tanh)
    with pytest.raises(ValueError, match="already registered"):
        actlab.register("mine", torch.sigmoid)
    actlab.register("mine", torch.sigmoid, replace=True)
    assert torch.equal(actlab.get("mine")(torch.zeros(1)), torch.full((1,), 0.5))


def test_unregister(user_entry):
    user_entry("temp_act", torch.tanh, aliases=("temp_alias",))
    actlab.unregister("temp_alias")
    assert "temp_act" not in actlab.names() and "temp_alias" not in actlab.aliases()
    with pytest.raises(actlab.UnknownActivationError):
        actlab.get("temp_act")
    with pytest.raises(ValueError, match="built in and cannot be unregistered"):
        actlab.unregister("relu")


def test_registry_add_is_for_builtin_style_entries():
    s = actlab.spec("relu")
    with pytest.raises(ValueError, match="already registered"):
        registry.add(s)
