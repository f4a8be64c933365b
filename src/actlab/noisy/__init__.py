"""Noisy activation functions (Gulcehre et al., ICML 2016): NAN, NANI, NANIS, NANIL as catalog
entries, a noise annealer, and gated recurrent layers with pluggable activations.

Importing this package registers the 12 entries ``<kind>_<unit>`` (kind: nan, nani, nanis, nanil;
unit: hard_tanh, hard_sigmoid, relu); ``import actlab`` does it.

    >>> act = actlab.get("nan_hard_tanh", c=1.0)          # p learned, noise in train() only
    >>> annealer = actlab.NoiseAnnealer(model, "exponential", start=30.0, end=0.5, steps=10_000)
    >>> lstm = actlab.noisy.LSTM(10, 32, gate_activation="hard_sigmoid", candidate_activation="hard_tanh")
"""

from actlab.noisy import entries as _entries  # registers the entries
from actlab.noisy.annealing import NoiseAnnealer, Schedule, noisy_units, schedule
from actlab.noisy.functional import (
    HALF_NORMAL_MEAN,
    KernelOptions,
    d_nan,
    d_nani,
    d_nanil,
    d_nanis,
    draw_noise,
    get_kernel_options,
    kernel_options,
    nan,
    nan_composed,
    nani,
    nanil,
    nanis,
    set_kernel_options,
)
from actlab.noisy.modules import NAN, NANI, NANIL, NANIS, NoisyActivation
from actlab.noisy.recurrent import GRU, LSTM, GRUCell, LSTMCell

NAMES: tuple[str, ...] = tuple(s.name for s in _entries.SPECS)

__all__ = [
    "GRU",
    "HALF_NORMAL_MEAN",
    "LSTM",
    "NAMES",
    "NAN",
    "NANI",
    "NANIL",
    "NANIS",
    "GRUCell",
    "KernelOptions",
    "LSTMCell",
    "NoiseAnnealer",
    "NoisyActivation",
    "Schedule",
    "d_nan",
    "d_nani",
    "d_nanil",
    "d_nanis",
    "draw_noise",
    "get_kernel_options",
    "kernel_options",
    "nan",
    "nan_composed",
    "nani",
    "nanil",
    "nanis",
    "noisy_units",
    "schedule",
    "set_kernel_options",
]
