"""Functional forms of the catalog: ``actlab.functional.<name>(x, **params)``.

Closed-form derivatives are ``actlab.functional.d_<name>`` (or ``actlab.spec(name).derivative``).
"""

from actlab.catalog.functional import (  # noqa: F401
    SELU_ALPHA,
    SELU_SCALE,
    celu,
    check_input,
    d_celu,
    d_elu,
    d_gelu,
    d_hard_sigmoid,
    d_hard_swish,
    d_hard_tanh,
    d_identity,
    d_leaky_relu,
    d_log_sigmoid,
    d_log_softmax,
    d_maxout,
    d_mish,
    d_noisy_relu,
    d_prelu,
    d_relu,
    d_relu6,
    d_rrelu,
    d_selu,
    d_sigmoid,
    d_silu,
    d_softmax,
    d_softplus,
    d_softsign,
    d_step,
    d_tanh,
    elu,
    gelu,
    hard_sigmoid,
    hard_swish,
    hard_tanh,
    identity,
    leaky_relu,
    log_sigmoid,
    log_softmax,
    maxout,
    mish,
    noisy_relu,
    prelu,
    relu,
    relu6,
    rrelu,
    selu,
    sigmoid,
    silu,
    softmax,
    softplus,
    softsign,
    step,
    tanh,
)

swish = silu


def _add_noisy_forms() -> None:
    """The noisy units of Gulcehre et al. (2016): ``nan_hard_tanh(x, training=True, ...)`` and their
    derivatives ``d_nan_hard_tanh``, ... (one per entry of :mod:`actlab.noisy.entries`)."""
    from actlab.noisy.entries import DERIVATIVE, FUNCTIONAL

    for name, fn in FUNCTIONAL.items():
        globals()[name] = fn
        globals()[f"d_{name}"] = DERIVATIVE[name]


_add_noisy_forms()


def _document() -> None:
    """Docstrings from the catalog for the forms that have none: the formula, the parameters with
    their defaults and valid ranges, the paper."""
    import inspect

    from actlab.catalog.registry import names, spec

    for name in names():
        fn, dfn = globals().get(name), globals().get(f"d_{name}")
        if fn is None:
            continue
        entry = spec(name)
        sig = inspect.signature(fn)
        params = "".join(f", {p.replace(annotation=p.empty)}" for p in list(sig.parameters.values())[1:])
        ranges = "; ".join(f"``{p.name}``: {p.range_text()}" for p in entry.params)
        about = f":math:`{entry.formula}`" + (f" ({entry.reference})" if entry.reference else "")
        if not (fn.__doc__ or "").strip():
            fn.__doc__ = (f"``{name}(x{params})``: {about}."
                          + (f"\n\nParameters: {ranges}." if ranges else "")
                          + f"\n\nThe module form is ``actlab.get({name!r})``; ``actlab.spec({name!r})`` "
                          "holds its properties.")
        if dfn is not None and not (dfn.__doc__ or "").strip():
            dparams = "".join(f", {p.replace(annotation=p.empty)}"
                              for p in list(inspect.signature(dfn).parameters.values())[1:])
            dfn.__doc__ = (f"``d_{name}(x{dparams})``: the closed-form derivative f'(x) of ``{name}``, "
                           f"{about}; same parameters.")


_document()
