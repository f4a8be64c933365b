"""One trial's configuration: a frozen dataclass, validated on construction, with a stable hash.

The hash is the SHA-256 of the canonical JSON of the config (sorted keys, no whitespace, the
activation's canonical name and *all* its parameters, defaults included) plus
:data:`TRAINER_VERSION`. So ``act="swish"`` and ``act="silu", act_params={"beta": 1.0}`` are the
same trial, ``lr=1`` and ``lr=1.0`` too, and a change of the training procedure that changes
results bumps the version so that old stored results are not taken for new ones.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import actlab
from actlab import data
from actlab.nets import INITS, NORMS

__all__ = ["MODELS", "OPTIMIZERS", "TRAINER_VERSION", "ConfigError", "TrialConfig"]

#: Bumped whenever training changes in a way that changes the numbers of an existing config.
TRAINER_VERSION = 1

MODELS = ("mlp", "cnn", "lstm", "gru")
OPTIMIZERS = ("sgd", "momentum", "adam", "adagrad")


class ConfigError(ValueError):
    """An invalid trial configuration or grid; the message names the key and the valid values."""


@dataclass(frozen=True)
class TrialConfig:
    """Everything that determines one training run (equal configs give equal numbers on CPU).

    Model: ``model`` (mlp, cnn, lstm, gru), ``depth`` hidden layers (conv blocks, recurrent
    layers) of ``width`` units (channels, hidden size), activation ``act`` with ``act_params``
    (the candidate activation of lstm/gru; ``gate_act`` their gates, sigmoid by default), ``init``
    / ``sigma_w2`` / ``sigma_b2`` / ``bias_init`` (see :mod:`actlab.nets`), ``norm``.

    Data: ``dataset`` (:func:`actlab.data.names`), split by ``data_seed``, ``standardize``d.

    Training: full passes over the training split in minibatches of ``batch_size``, reshuffled
    each epoch, for ``epochs`` epochs or ``max_steps`` optimizer steps, whichever comes first;
    evaluated on both full splits at initialisation, every ``eval_every`` epochs and at the end;
    cross-entropy loss plus ``l1`` times the sum of absolute weights (not biases); ``optimizer``
    sgd, momentum (SGD with ``momentum``), adam (betas 0.9, 0.999) or adagrad, with ``lr`` and
    L2 ``weight_decay`` applied to every parameter as ``torch.optim`` does. ``seed`` seeds the
    initialisation and the batch order. ``watch`` records per-layer gradient norms and
    dead/saturated fractions each epoch (needs :mod:`actlab.watch`).
    """

    dataset: str = "digits"
    model: str = "mlp"
    act: str = "relu"  # or a config dict {"name": ..., **params}, split into act and act_params
    act_params: dict[str, Any] = field(default_factory=dict)
    gate_act: str | None = None
    depth: int = 2
    width: int = 64
    init: str = "default"
    sigma_w2: float | None = None
    sigma_b2: float | None = None
    bias_init: float | None = None
    norm: str = "none"
    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 0.0
    l1: float = 0.0
    epochs: int = 10
    batch_size: int = 64
    max_steps: int | None = None
    seed: int = 0
    data_seed: int = 0
    standardize: bool = True
    test_fraction: float = 0.25
    eval_every: int = 1
    watch: bool = False

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if isinstance(self.act, Mapping):  # act={"name": "leaky_relu", "negative_slope": 0.2}, as actlab.get
            config = dict(self.act)
            if "name" not in config:
                raise ConfigError(f"act: {config!r} has no 'name'; valid: a catalog name or a config "
                                  "like {'name': 'leaky_relu', 'negative_slope': 0.2}")
            if self.act_params and set(self.act_params) & set(config):
                raise ConfigError(f"act: parameters given twice, in act and in act_params: "
                                  f"{sorted(set(self.act_params) & set(config))}")
            if not isinstance(self.act_params, dict):
                raise ConfigError(f"act_params: {self.act_params!r} is invalid; valid: a table of "
                                  "the activation's parameters")
            config.pop("inplace", None)  # a memory option of modules (serialize keeps it): same results
            set_(self, "act", config.pop("name"))
            set_(self, "act_params", {**self.act_params, **config})
        for f in dataclasses.fields(self):
            set_(self, f.name, _check(f.name, getattr(self, f.name)))
        # The activation by canonical name with all parameters resolved, so that aliases and
        # spelled-out defaults hash alike.
        try:
            spec = actlab.spec(self.act)
        except KeyError as e:
            raise ConfigError(f"act: {e}") from None
        if not isinstance(self.act_params, dict):
            raise ConfigError(f"act_params: {self.act_params!r} is invalid; valid: a table of "
                              f"{spec.name}'s parameters ({', '.join(spec.defaults) or 'none'})")
        try:
            params = spec.resolve(self.act_params)
        except ValueError as e:
            raise ConfigError(f"act_params: {e}") from None
        set_(self, "act", spec.name)
        set_(self, "act_params", dict(sorted(params.items())))
        if self.gate_act is not None:
            if self.model not in ("lstm", "gru"):
                raise ConfigError(f"gate_act: only lstm and gru have gates (model={self.model!r})")
            try:
                set_(self, "gate_act", actlab.canonical(self.gate_act))
            except KeyError as e:
                raise ConfigError(f"gate_act: {e}") from None
        if self.sigma_w2 is not None:
            if self.init == "default":
                set_(self, "init", "sigma")
            elif self.init != "sigma":
                raise ConfigError(f"sigma_w2: sets the 'sigma' init and cannot be combined with "
                                  f"init={self.init!r}")
        elif self.init == "sigma":
            raise ConfigError("init: 'sigma' needs sigma_w2 (weights N(0, sigma_w2 / fan_in))")
        if self.bias_init is not None and self.sigma_b2 is not None:
            raise ConfigError("bias_init: pass either bias_init (constant biases) or sigma_b2 "
                              "(Gaussian biases), not both")
        if self.model == "cnn" and self.dataset != "digits":
            raise ConfigError(f"model: 'cnn' needs image data (dataset 'digits'), got "
                              f"dataset={self.dataset!r}")
        if self.model in ("lstm", "gru") and self.norm != "none":
            raise ConfigError(f"norm: {self.model} has no normalisation layers; valid: 'none'")
        if self.model in ("lstm", "gru") and self.init not in ("default", "orthogonal"):
            raise ConfigError(f"init: {self.model} supports 'default' and 'orthogonal'")

    # -- serialisation ----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; ``TrialConfig.from_dict(c.to_dict()) == c``."""
        out = dataclasses.asdict(self)
        out["act_params"] = dict(self.act_params)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrialConfig:
        """Build from a dict; an unknown key is a :class:`ConfigError` naming it (and the closest
        valid key)."""
        if not isinstance(d, dict):
            raise ConfigError(f"a trial config must be a table, got {type(d).__name__}")
        for k in d:
            if not isinstance(k, str):
                raise ConfigError(f"{k!r}: a key must be a string; valid: "
                                  f"{', '.join(sorted(f.name for f in dataclasses.fields(cls)))}")
        return cls(**d)  # an unknown key is refused by __init__ (see _refuse_unknown_keys)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), allow_nan=False)

    @property
    def hash(self) -> str:
        """16 hex digits of SHA-256(canonical JSON + trainer version): the trial's key in a store."""
        payload = f"actlab-trial-v{TRAINER_VERSION}:" + self.to_json()
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def replace(self, **changes: Any) -> TrialConfig:
        return dataclasses.replace(self, **changes)

    def __hash__(self) -> int:  # frozen + a dict field: hash by the canonical JSON
        return hash(self.to_json())

    def activation(self) -> str:
        """The activation with its non-default parameters: ``leaky_relu(negative_slope=0.2)``."""
        defaults = actlab.spec(self.act).defaults
        p = ",".join(f"{k}={v}" for k, v in self.act_params.items() if defaults.get(k) != v)
        return f"{self.act}({p})" if p else self.act

    def label(self) -> str:
        """A short human-readable description for logs and errors."""
        act = self.activation()
        return (f"{self.dataset}/{self.model} {act} depth={self.depth} width={self.width} init={self.init} "
                f"{self.optimizer} lr={self.lr:g} seed={self.seed}")


# -- field validation ------------------------------------------------------------------------------
def _int(name: str, v: Any, low: int, optional: bool = False) -> int | None:
    if v is None and optional:
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, int) or v < low:
        raise ConfigError(f"{name}: {v!r} is invalid; valid: an integer >= {low}"
                          + (" (or omit it)" if optional else ""))
    return v


def _refuse_unknown_keys(init: Any) -> Any:
    """Wrap the dataclass ``__init__``: an unknown keyword (``TrialConfig(widht=8)``, a grid key,
    ``replace(epoch=5)``) is a :class:`ConfigError` naming the closest valid key, not Python's bare
    "unexpected keyword argument"."""
    known = sorted(f.name for f in dataclasses.fields(TrialConfig))

    @functools.wraps(init)
    def checked(self: TrialConfig, /, *args: Any, **kwargs: Any) -> None:
        for k in kwargs:
            if k not in known:
                close = difflib.get_close_matches(str(k), known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ConfigError(f"{k}: unknown key{hint}; valid: {', '.join(known)}")
        init(self, *args, **kwargs)

    return checked


TrialConfig.__init__ = _refuse_unknown_keys(TrialConfig.__init__)  # type: ignore[method-assign]


def _float(name: str, v: Any, low: float, strict: bool = False, optional: bool = False,
           high: float | None = None) -> float | None:
    if v is None and optional:
        return None
    ok = not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)
    if ok:
        x = float(v)
        ok = (x > low if strict else x >= low) and (high is None or x < high)
    if not ok:
        rng = f"{'>' if strict else '>='} {low:g}" + (f" and < {high:g}" if high is not None else "")
        raise ConfigError(f"{name}: {v!r} is invalid; valid: a number {rng}"
                          + (" (or omit it)" if optional else ""))
    return x


def _choice(name: str, v: Any, choices: tuple[str, ...]) -> str:
    if not isinstance(v, str) or v not in choices:
        raise ConfigError(f"{name}: {v!r} is invalid; valid: {', '.join(choices)}")
    return v


def _check(name: str, v: Any) -> Any:
    if name == "dataset":
        return _choice(name, v.strip().lower() if isinstance(v, str) else v, tuple(data.names()))
    if name == "model":
        return _choice(name, v, MODELS)
    if name in ("act", "gate_act"):
        if v is None and name == "gate_act":
            return None
        if not isinstance(v, str):
            raise ConfigError(f"{name}: {v!r} is invalid; valid: a catalog name (`actlab list`)")
        return v
    if name == "act_params":
        return v
    if name == "init":
        return _choice(name, v, INITS)
    if name == "norm":
        return _choice(name, "none" if v is None else v, NORMS)
    if name == "optimizer":
        return _choice(name, v, OPTIMIZERS)
    if name in ("depth",):
        return _int(name, v, 0)
    if name in ("width", "epochs", "batch_size", "eval_every"):
        return _int(name, v, 1)
    if name == "max_steps":
        return _int(name, v, 1, optional=True)
    if name in ("seed", "data_seed"):
        return _int(name, v, 0)
    if name == "lr":
        return _float(name, v, 0.0, strict=True)
    if name == "momentum":
        return _float(name, v, 0.0, high=1.0)
    if name in ("weight_decay", "l1"):
        return _float(name, v, 0.0)
    if name == "sigma_w2":
        return _float(name, v, 0.0, strict=True, optional=True)
    if name == "sigma_b2":
        return _float(name, v, 0.0, optional=True)
    if name == "bias_init":
        return _float(name, v, -math.inf, optional=True)
    if name == "test_fraction":
        v = _float(name, v, 0.0, strict=True, high=1.0)
        return v
    if name in ("standardize", "watch"):
        if not isinstance(v, bool):
            raise ConfigError(f"{name}: {v!r} is invalid; valid: true or false")
        return v
    raise AssertionError(name)  # pragma: no cover - every field is handled above
