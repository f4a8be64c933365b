"""actlab.theory: predict vanishing/exploding gradients and the trainable depth of a deep net from
mean-field signal propagation (Poole et al. 2016; Schoenholz et al. 2017), and check the
predictions against measured random networks (Pennington et al. 2017 for dynamical isometry).

    >>> from actlab import theory
    >>> r = theory.analyze("tanh", sigma_w2=1.0, sigma_b2=0.05)
    >>> r.phase, round(r.chi1, 4), round(r.xi_c, 2)
    ('ordered', 0.759, 3.63)
    >>> theory.critical_sigma_w2("tanh", sigma_b2=0.05)
    1.76095...

Modules: :mod:`~actlab.theory.gauss` (Gaussian expectations), :mod:`~actlab.theory.meanfield`
(the maps, fixed points, depth scales, critical line), :mod:`~actlab.theory.verify`
(measurements), :mod:`~actlab.theory.plots` (figures).
"""

from actlab.theory.gauss import Composite, Hermite, expect, expect2
from actlab.theory.meanfield import (
    INITS,
    PHASES,
    CriticalInit,
    LayerPrediction,
    MeanField,
    MeanFieldResult,
    PhaseDiagram,
    Phi,
    activation,
    analyze,
    chi1,
    compare,
    critical_init,
    critical_line,
    critical_sigma_w2,
    depth_scales,
    layer_chi1,
    max_trainable_depth,
    phase_diagram,
    q_star,
)
from actlab.theory.plots import plot_phase_diagram, plot_propagation, plot_spectra, plot_trainability
from actlab.theory.verify import (
    PropagationCheck,
    Spectrum,
    dynamical_isometry,
    jacobian_spectrum,
    propagation,
)

__all__ = [
    "INITS",
    "PHASES",
    "Composite",
    "CriticalInit",
    "Hermite",
    "LayerPrediction",
    "MeanField",
    "MeanFieldResult",
    "PhaseDiagram",
    "Phi",
    "PropagationCheck",
    "Spectrum",
    "activation",
    "analyze",
    "chi1",
    "compare",
    "critical_init",
    "critical_line",
    "critical_sigma_w2",
    "depth_scales",
    "dynamical_isometry",
    "expect",
    "expect2",
    "jacobian_spectrum",
    "layer_chi1",
    "max_trainable_depth",
    "phase_diagram",
    "plot_phase_diagram",
    "plot_propagation",
    "plot_spectra",
    "plot_trainability",
    "propagation",
    "q_star",
]
