"""The built-in catalog: one :class:`Spec` per activation, with declared properties.

Properties are declared from the mathematics (closed forms where they exist; a float64 root or
minimum search where the value is transcendental, e.g. sigmoid's fixed point 0.659046...). Every
declaration is checked against numerical measurement of the function itself in
``tests/test_catalog_properties.py``.
"""

from __future__ import annotations

import math
from dataclasses import replace

import torch

from actlab.catalog import functional as AF
from actlab.catalog import modules as M
from actlab.catalog.measure import at, bisect_root, golden_min
from actlab.catalog.registry import add
from actlab.catalog.spec import NONE, SOFT, Param, Properties, Spec, hard

INF = math.inf
ALL_REALS = ((-INF, INF),)
NON_NEGATIVE = ((0.0, INF),)


def _f64(fn, **params):
    return lambda x: fn(x, **params)


def _min_value(fn, a: float, b: float) -> float:
    """min of fn on [a, b] (unimodal there), evaluated in float64."""
    f = _f64(fn)
    return at(f, golden_min(lambda t: at(f, t), a, b))


def _negative_root(fn, lo: float) -> float:
    """The root of fn(x) - x in [lo, 0) (fn(x) - x > 0 at lo and < 0 just left of 0)."""
    return bisect_root(lambda t: at(fn, t) - t, lo, -1e-300)


def _smooth(**kw) -> Properties:
    """Defaults for a C-infinity elementwise function; override what differs."""
    base = {
        "smoothness": INF,
        "differentiable_at_0": True,
        "kinks": (),
        "range_attained": (False, False),
    }
    base.update(kw)
    return Properties(**base)


# ---------------------------------------------------------------------------------------------
# property functions (one per entry; parameters arrive validated)
# ---------------------------------------------------------------------------------------------
def _identity() -> Properties:
    return _smooth(output_range=(-INF, INF), monotonic=True, zero_centred=True,
                   saturation=(NONE, NONE), sup_derivative=1.0, fixed_points=ALL_REALS)


def _step() -> Properties:
    return Properties(output_range=(0.0, 1.0), range_attained=(True, True), monotonic=True,
                      zero_centred=False, smoothness=-1, differentiable_at_0=False, kinks=(0.0,),
                      saturation=(hard(0.0), hard(0.0)), sup_derivative=0.0,
                      fixed_points=((0.0, 0.0), (1.0, 1.0)))


def _sigmoid() -> Properties:
    fp = bisect_root(lambda t: 1.0 / (1.0 + math.exp(-t)) - t, 0.0, 1.0)
    return _smooth(output_range=(0.0, 1.0), monotonic=True, zero_centred=False,
                   saturation=(SOFT, SOFT), sup_derivative=0.25, fixed_points=((fp, fp),))


def _tanh() -> Properties:
    return _smooth(output_range=(-1.0, 1.0), monotonic=True, zero_centred=True,
                   saturation=(SOFT, SOFT), sup_derivative=1.0, fixed_points=((0.0, 0.0),))


def _hard_sigmoid(slope: float) -> Properties:
    t = 0.5 / slope
    # Interior fixed point of slope*x + 0.5 = x when it lies inside the linear part (slope < 1/2);
    # otherwise the line reaches 1 at x = t <= 1, and x = 1 is the fixed point.
    fp = 0.5 / (1.0 - slope) if slope < 0.5 else 1.0
    return Properties(output_range=(0.0, 1.0), range_attained=(True, True), monotonic=True,
                      zero_centred=False, smoothness=0, differentiable_at_0=True, kinks=(-t, t),
                      saturation=(hard(-t), hard(t)), sup_derivative=slope,
                      fixed_points=((fp, fp),))


def _hard_tanh(min: float, max: float) -> Properties:
    return Properties(output_range=(min, max), range_attained=(True, True), monotonic=True,
                      zero_centred=min == -max, smoothness=0,
                      differentiable_at_0=min != 0 and max != 0, kinks=(min, max),
                      saturation=(hard(min), hard(max)), sup_derivative=1.0,
                      fixed_points=((min, max),))


def _relu() -> Properties:
    return Properties(output_range=(0.0, INF), range_attained=(True, False), monotonic=True,
                      zero_centred=False, smoothness=0, differentiable_at_0=False, kinks=(0.0,),
                      saturation=(hard(0.0), NONE), sup_derivative=1.0, fixed_points=NON_NEGATIVE)


def _relu6() -> Properties:
    return Properties(output_range=(0.0, 6.0), range_attained=(True, True), monotonic=True,
                      zero_centred=False, smoothness=0, differentiable_at_0=False,
                      kinks=(0.0, 6.0), saturation=(hard(0.0), hard(6.0)), sup_derivative=1.0,
                      fixed_points=((0.0, 6.0),))


def _piecewise_linear(a: float, sup: float | None = None, **kw) -> Properties:
    """x for x > 0, a*x otherwise (leaky_relu, prelu at init, rrelu in eval)."""
    if a == 1.0:
        return replace(_identity(), **kw)
    rng = (-INF, INF) if a > 0 else (0.0, INF)
    return Properties(output_range=rng, range_attained=(a <= 0, False), monotonic=a >= 0,
                      zero_centred=False, smoothness=0, differentiable_at_0=False, kinks=(0.0,),
                      saturation=(hard(0.0) if a == 0 else NONE, NONE),
                      sup_derivative=max(1.0, abs(a)) if sup is None else sup,
                      fixed_points=NON_NEGATIVE, **kw)


def _leaky_relu(negative_slope: float) -> Properties:
    return _piecewise_linear(negative_slope)


def _prelu(num_parameters: int, init: float) -> Properties:
    # At initialisation; the slope is learned afterwards.
    p = _piecewise_linear(init)
    return Properties(**{**p.__dict__, "learnable": True})


def _rrelu(lower: float, upper: float) -> Properties:
    # Eval form (fixed mean slope); in training the slope lies in [lower, upper] <= 1.
    return _piecewise_linear((lower + upper) / 2.0, sup=1.0, stochastic=True)


def _noisy_relu() -> Properties:
    return Properties(**{**_relu().__dict__, "stochastic": True})


def _exp_family(alpha: float, scale: float, zero_centred: bool) -> Properties:
    """scale*x for x > 0, scale*alpha*(e^x - 1) otherwise (elu, selu)."""
    slope0 = scale * alpha  # left derivative at 0
    fps: tuple = ((0.0, INF),) if scale == 1.0 else ((0.0, 0.0),)
    if slope0 > 1.0:  # then scale*alpha*(e^x - 1) = x has a second, negative root
        # the root lies above the range's floor -scale*alpha: bracket just below it
        r = _negative_root(lambda x: scale * alpha * torch.expm1(x), lo=-(scale * alpha) - 1.0)
        fps = ((r, r), *fps)
    smooth_at_0 = slope0 == scale
    return Properties(output_range=(-scale * alpha, INF), range_attained=(False, False),
                      monotonic=True, zero_centred=zero_centred,
                      smoothness=1 if smooth_at_0 else 0, differentiable_at_0=smooth_at_0,
                      kinks=() if smooth_at_0 else (0.0,), saturation=(SOFT, NONE),
                      sup_derivative=max(scale, slope0), fixed_points=fps)


def _elu(alpha: float) -> Properties:
    # E[elu(z)], z ~ N(0, 1), in closed form: phi(0) + alpha (e^(1/2) Phi(-1) - 1/2); it is 0 at SELU's
    # alpha (that is how SELU's alpha is defined). Zero-centred as Properties defines it: |E| < 1e-6.
    phi_minus_1 = 0.5 * math.erfc(1.0 / math.sqrt(2.0))
    mean = 1.0 / math.sqrt(2.0 * math.pi) + alpha * (math.exp(0.5) * phi_minus_1 - 0.5)
    return _exp_family(alpha, 1.0, zero_centred=abs(mean) < 1e-6)


def _selu() -> Properties:
    return _exp_family(AF.SELU_ALPHA, AF.SELU_SCALE, zero_centred=True)


def _celu(alpha: float) -> Properties:
    return Properties(output_range=(-alpha, INF), range_attained=(False, False), monotonic=True,
                      zero_centred=False, smoothness=1, differentiable_at_0=True, kinks=(),
                      saturation=(SOFT, NONE), sup_derivative=1.0, fixed_points=NON_NEGATIVE)


def _smooth_relu_like(fn, deriv, argmin_bracket, sup_bracket, **params) -> Properties:
    """x * gate(x) shapes (gelu, silu, mish): one negative minimum, f' peaking above 1."""
    f = _f64(fn, **params)
    d = _f64(deriv, **params)
    xmin = golden_min(lambda t: at(f, t), *argmin_bracket)
    xsup = golden_min(lambda t: -at(d, t), *sup_bracket)
    return Properties(output_range=(at(f, xmin), INF), range_attained=(True, False),
                      monotonic=False, zero_centred=False, smoothness=INF,
                      differentiable_at_0=True, kinks=(), saturation=(SOFT, NONE),
                      sup_derivative=at(d, xsup), fixed_points=((0.0, 0.0),))


def _gelu(approximate: str) -> Properties:
    return _smooth_relu_like(AF.gelu, AF.d_gelu, (-3, 0), (0, 4), approximate=approximate)


def _silu(beta: float, learnable: bool) -> Properties:
    p = _smooth_relu_like(AF.silu, AF.d_silu, (-5 / beta, 0), (0, 6 / beta), beta=beta)
    return Properties(**{**p.__dict__, "learnable": learnable})


def _mish() -> Properties:
    return _smooth_relu_like(AF.mish, AF.d_mish, (-3, 0), (0, 4))


#: A drop or kink counts as real for softplus's implementation when float32 can show it: half a
#: float32 ulp, relative (2^-24).
FLOAT32_VISIBLE = 2.0**-24


def _x_branch_start(x0: float, beta: float, threshold: float) -> float:
    """The first float64 x where softplus's implementation returns x itself (beta * x > threshold)."""
    start = math.nextafter(x0, INF)
    while not beta * start > threshold:
        start = math.nextafter(start, INF)
    return start


def _softplus(beta: float, threshold: float) -> Properties:
    # The formula has no fixed point (log(1 + e^x) > x) and is C-infinity and increasing. The
    # implementation (PyTorch's) returns x itself where beta*x > threshold, so at
    # x0 = threshold/beta it drops by gap = log1p(e^-threshold)/beta: 2e-9/beta at the default
    # threshold 20, far below anything float32 resolves (ulp(20) = 2e-6), and these properties
    # describe the formula. A small threshold makes the drop real (0.31 for threshold=1): then
    # the declared properties are those of the implemented function, discontinuous and not
    # monotonic at x0, and equal to x (fixed) beyond it. "Real" = what float32 can show:
    # FLOAT32_VISIBLE (half a float32 ulp, relative); at beta 1, drops for thresholds below ~14.6.
    x0 = threshold / beta
    gap = math.log1p(math.exp(-threshold)) / beta
    if gap > FLOAT32_VISIBLE * max(1.0, x0 + gap):
        return _smooth(output_range=(0.0, INF), monotonic=False, zero_centred=False,
                       smoothness=-1, kinks=(x0,), saturation=(SOFT, NONE), sup_derivative=1.0,
                       fixed_points=((_x_branch_start(x0, beta, threshold), INF),))
    # f' still jumps at x0, from sigmoid(threshold) to 1: a kink where float32 can show it (then
    # these are the implementation's properties, which returns x itself, a fixed point, beyond x0)
    d_jump = -math.expm1(-math.log1p(math.exp(-threshold)))  # 1 - sigmoid(threshold), no cancellation
    if d_jump > FLOAT32_VISIBLE:
        return _smooth(output_range=(0.0, INF), monotonic=True, zero_centred=False, smoothness=0,
                       kinks=(x0,), saturation=(SOFT, NONE), sup_derivative=1.0,
                       fixed_points=((_x_branch_start(x0, beta, threshold), INF),))
    return _smooth(output_range=(0.0, INF), monotonic=True, zero_centred=False,
                   saturation=(SOFT, NONE), sup_derivative=1.0, fixed_points=())


def _softsign() -> Properties:
    return _smooth(output_range=(-1.0, 1.0), monotonic=True, zero_centred=True, smoothness=1,
                   saturation=(SOFT, SOFT), sup_derivative=1.0, fixed_points=((0.0, 0.0),))


def _hard_swish() -> Properties:
    # x(x + 3)/6 = x at 0 and 3, and f(x) = x for every x >= 3.
    return Properties(output_range=(-0.375, INF), range_attained=(True, False), monotonic=False,
                      zero_centred=False, smoothness=0, differentiable_at_0=True,
                      kinks=(-3.0, 3.0), saturation=(hard(-3.0), NONE), sup_derivative=1.5,
                      fixed_points=((0.0, 0.0), (3.0, INF)))


def _log_sigmoid() -> Properties:
    # log s(x) - x = -log(1 + e^x) < 0: no fixed point.
    return _smooth(output_range=(-INF, 0.0), monotonic=True, zero_centred=False,
                   saturation=(NONE, SOFT), sup_derivative=1.0, fixed_points=())


# Entries that mix features: properties of one coordinate as a function of itself (others
# fixed); fixed points are not defined for them and are reported empty.
def _maxout(k: int, dim: int) -> Properties:
    if k == 1:
        return Properties(**{**_identity().__dict__, "elementwise": False, "fixed_points": ()})
    return Properties(output_range=(-INF, INF), range_attained=(False, False), monotonic=True,
                      zero_centred=False, smoothness=0, differentiable_at_0=False, kinks=(0.0,),
                      saturation=(hard(0.0), NONE), sup_derivative=1.0, fixed_points=(),
                      elementwise=False)


def _softmax(dim: int) -> Properties:
    return _smooth(output_range=(0.0, 1.0), monotonic=True, zero_centred=False,
                   saturation=(SOFT, SOFT), sup_derivative=0.25, fixed_points=(),
                   elementwise=False)


def _log_softmax(dim: int) -> Properties:
    return _smooth(output_range=(-INF, 0.0), monotonic=True, zero_centred=False,
                   saturation=(NONE, SOFT), sup_derivative=1.0, fixed_points=(),
                   elementwise=False)


# ---------------------------------------------------------------------------------------------
# the entries, in catalog order
# ---------------------------------------------------------------------------------------------
def _slope_check(params: dict) -> None:
    if params["lower"] > params["upper"]:
        raise ValueError(f"rrelu: lower={params['lower']} > upper={params['upper']}; "
                         "valid: 0 <= lower <= upper <= 1")


def _minmax_check(params: dict) -> None:
    if params["min"] >= params["max"]:
        raise ValueError(f"hard_tanh: min={params['min']} >= max={params['max']}; "
                         "valid: min < max")


POS = {"low": 0.0, "low_inclusive": False}

BUILTINS: list[Spec] = [
    Spec("identity", AF.identity, AF.d_identity, M.Identity, _identity,
         formula=r"f(x) = x", aliases=("linear",), torch_equivalent="torch.nn.Identity",
         doc="no nonlinearity: any depth stays one affine map"),
    Spec("step", AF.step, AF.d_step, M.Step, _step,
         formula=r"f(x) = \begin{cases}1 & x > 0\\ 0 & x \le 0\end{cases}",
         aliases=("heaviside",), torch_equivalent="torch.heaviside(x, 0) (no autograd)",
         reference="McCulloch & Pitts 1943", doc="Heaviside step; gradient 0 everywhere"),
    Spec("sigmoid", AF.sigmoid, AF.d_sigmoid, M.Sigmoid, _sigmoid,
         formula=r"\sigma(x) = \frac{1}{1 + e^{-x}}", aliases=("logistic",),
         torch_equivalent="torch.nn.Sigmoid", doc="logistic; f' <= 1/4"),
    Spec("tanh", AF.tanh, AF.d_tanh, M.Tanh, _tanh,
         formula=r"\tanh(x) = \frac{e^x - e^{-x}}{e^x + e^{-x}}",
         torch_equivalent="torch.nn.Tanh", doc="zero-centred sigmoid"),
    Spec("hard_sigmoid", AF.hard_sigmoid, AF.d_hard_sigmoid, M.HardSigmoid, _hard_sigmoid,
         params=(Param("slope", 0.25, "slope of the linear part", **POS),),
         formula=r"f(x) = \max(0, \min(1, \text{slope}\,x + 0.5))", aliases=("hardsigmoid",),
         torch_equivalent="torch.nn.Hardsigmoid (slope=1/6)",
         reference="Gulcehre et al. 2016 (slope 1/4); Courbariaux et al. 2015",
         doc="clipped linear sigmoid; hard saturation"),
    Spec("hard_tanh", AF.hard_tanh, AF.d_hard_tanh, M.HardTanh, _hard_tanh,
         params=(Param("min", -1.0, "lower clip"), Param("max", 1.0, "upper clip")),
         formula=r"f(x) = \max(\min, \min(\max, x))", aliases=("hardtanh",),
         torch_equivalent="torch.nn.Hardtanh", doc="clipped identity; hard saturation"),
    Spec("relu", AF.relu, AF.d_relu, M.ReLU, _relu, formula=r"f(x) = \max(0, x)",
         torch_equivalent="torch.nn.ReLU", reference="Nair & Hinton 2010; Glorot et al. 2011",
         doc="rectified linear"),
    Spec("relu6", AF.relu6, AF.d_relu6, M.ReLU6, _relu6, formula=r"f(x) = \min(\max(0, x), 6)",
         torch_equivalent="torch.nn.ReLU6", doc="ReLU clipped at 6"),
    Spec("leaky_relu", AF.leaky_relu, AF.d_leaky_relu, M.LeakyReLU, _leaky_relu,
         params=(Param("negative_slope", 0.01, "slope for x < 0", low=0.0),),
         formula=r"f(x) = \max(0, x) + \text{negative\_slope}\cdot\min(0, x)",
         aliases=("lrelu", "leakyrelu"), torch_equivalent="torch.nn.LeakyReLU",
         reference="Maas et al. 2013", doc="small slope for x < 0"),
    Spec("prelu", AF.prelu, AF.d_prelu, M.PReLU, _prelu,
         params=(Param("num_parameters", 1, "1 (shared) or number of channels", low=1, kind=int),
                 Param("init", 0.25, "initial slope")),
         formula=r"f(x) = \max(0, x) + a\min(0, x),\ a \text{ learned}",
         torch_equivalent="torch.nn.PReLU", reference="He et al. 2015",
         doc="learned negative slope (properties at init)"),
    Spec("rrelu", AF.rrelu, AF.d_rrelu, M.RReLU, _rrelu,
         params=(Param("lower", 1.0 / 8.0, "lowest random slope", low=0.0, high=1.0),
                 Param("upper", 1.0 / 3.0, "highest random slope", low=0.0, high=1.0)),
         formula=r"f(x) = \max(0, x) + a\min(0, x),\ a \sim U[l, u] \text{ (train)}, "
                 r"\tfrac{l + u}{2} \text{ (eval)}",
         torch_equivalent="torch.nn.RReLU", reference="Xu et al. 2015",
         doc="random negative slope in training"),
    Spec("elu", AF.elu, AF.d_elu, M.ELU, _elu,
         params=(Param("alpha", 1.0, "negative saturation value", **POS),),
         formula=r"f(x) = \begin{cases}x & x > 0\\ \alpha(e^x - 1) & x \le 0\end{cases}",
         torch_equivalent="torch.nn.ELU", reference="Clevert et al. 2016",
         doc="exponential linear"),
    Spec("selu", AF.selu, AF.d_selu, M.SELU, _selu,
         formula=r"f(x) = \lambda\begin{cases}x & x > 0\\ \alpha(e^x - 1) & x \le 0\end{cases}",
         torch_equivalent="torch.nn.SELU", reference="Klambauer et al. 2017",
         doc="self-normalising with LeCun init"),
    Spec("celu", AF.celu, AF.d_celu, M.CELU, _celu,
         params=(Param("alpha", 1.0, "negative saturation value", **POS),),
         formula=r"f(x) = \max(0, x) + \min(0, \alpha(e^{x/\alpha} - 1))",
         torch_equivalent="torch.nn.CELU", reference="Barron 2017", doc="C1 ELU for every alpha"),
    Spec("gelu", AF.gelu, AF.d_gelu, M.GELU, _gelu,
         params=(Param("approximate", "none", "'none' (exact) or 'tanh'",
                       choices=("none", "tanh"), kind=str),),
         formula=r"f(x) = x\,\Phi(x)", torch_equivalent="torch.nn.GELU",
         reference="Hendrycks & Gimpel 2016", doc="Gaussian error linear unit"),
    Spec("silu", AF.silu, AF.d_silu, M.SiLU, _silu,
         params=(Param("beta", 1.0, "gate sharpness", **POS),
                 Param("learnable", False, "learn beta (Swish-beta)", kind=bool)),
         formula=r"f(x) = x\,\sigma(\beta x)", aliases=("swish",),
         torch_equivalent="torch.nn.SiLU (beta=1)",
         reference="Elfwing et al. 2018; Ramachandran et al. 2017", doc="x * sigmoid(beta x)"),
    Spec("mish", AF.mish, AF.d_mish, M.Mish, _mish,
         formula=r"f(x) = x\tanh(\ln(1 + e^x))", torch_equivalent="torch.nn.Mish",
         reference="Misra 2019", doc="x * tanh(softplus(x))"),
    Spec("softplus", AF.softplus, AF.d_softplus, M.Softplus, _softplus,
         params=(Param("beta", 1.0, "sharpness", **POS),
                 Param("threshold", 20.0, "linear above beta*x > threshold", **POS)),
         formula=r"f(x) = \tfrac{1}{\beta}\ln(1 + e^{\beta x})",
         torch_equivalent="torch.nn.Softplus", reference="Dugas et al. 2001",
         doc="smooth ReLU; f' = sigmoid"),
    Spec("softsign", AF.softsign, AF.d_softsign, M.Softsign, _softsign,
         formula=r"f(x) = \frac{x}{1 + |x|}", torch_equivalent="torch.nn.Softsign",
         reference="Bergstra et al. 2009", doc="polynomially saturating tanh"),
    Spec("hard_swish", AF.hard_swish, AF.d_hard_swish, M.HardSwish, _hard_swish,
         formula=r"f(x) = x\,\frac{\min(\max(0, x + 3), 6)}{6}", aliases=("hardswish",),
         torch_equivalent="torch.nn.Hardswish", reference="Howard et al. 2019",
         doc="piecewise-quadratic swish"),
    Spec("log_sigmoid", AF.log_sigmoid, AF.d_log_sigmoid, M.LogSigmoid, _log_sigmoid,
         formula=r"f(x) = \ln\sigma(x) = -\ln(1 + e^{-x})", aliases=("logsigmoid",),
         torch_equivalent="torch.nn.LogSigmoid", doc="log of the sigmoid; f' = sigmoid(-x)"),
    Spec("maxout", AF.maxout, AF.d_maxout, M.Maxout, _maxout,
         params=(Param("k", 2, "pieces per output feature", low=1, kind=int),
                 Param("dim", -1, "feature dimension", kind=int)),
         formula=r"f(x)_j = \max_{0 \le i < k} x_{jk + i}", reference="Goodfellow et al. 2013",
         doc="max over k pieces: n*k -> n features"),
    Spec("softmax", AF.softmax, AF.d_softmax, M.Softmax, _softmax,
         params=(Param("dim", -1, "dimension normalised over", kind=int),),
         formula=r"f(x)_i = \frac{e^{x_i}}{\sum_j e^{x_j}}", torch_equivalent="torch.nn.Softmax",
         doc="probabilities over dim"),
    Spec("log_softmax", AF.log_softmax, AF.d_log_softmax, M.LogSoftmax, _log_softmax,
         params=(Param("dim", -1, "dimension normalised over", kind=int),),
         formula=r"f(x)_i = x_i - \ln\sum_j e^{x_j}", torch_equivalent="torch.nn.LogSoftmax",
         doc="log-probabilities over dim"),
    Spec("noisy_relu", AF.noisy_relu, AF.d_noisy_relu, M.NoisyReLU, _noisy_relu,
         formula=r"f(x) = \max(0, x + \epsilon),\ \epsilon \sim N(0, \sigma(x)) \text{ (train)}",
         reference="Nair & Hinton 2010", doc="ReLU with input-dependent Gaussian noise"),
]

CONSTRAINTS = {"rrelu": _slope_check, "hard_tanh": _minmax_check}

for _s in BUILTINS:
    add(_s.with_(constraint=CONSTRAINTS.get(_s.name)))
