"""What the theory predicts, as closed forms in NumPy (docs/theory.md): no JAX, no spec.

* :mod:`dynax.theory.mp`: depth-1 dynamics from the Marchenko-Pastur law (§2);
* :mod:`dynax.theory.deep`: the stable step of deep networks and the Saxe et al. modes (§3);
* :mod:`dynax.theory.online`: one-pass online SGD and its oracle schedule (§4);
* :mod:`dynax.theory.features`: random-feature students in closed form (§5 item 8);
* :mod:`dynax.theory.hierarchy`: a tree of items and features, its modes and singular values (§3.5);
* :mod:`dynax.theory.dropout`: dropout's expected loss and its mode dynamics (§3.6);
* :mod:`dynax.theory.committee`: soft committee machines, their erf error and ODEs (§6).

The theory on a spec's grid, as a Dataset beside a result, is :mod:`dynax.predict`.
"""

from .committee import committee_drift, committee_error, committee_ode
from .deep import (
    mode_oracle,
    saxe_escape_time,
    saxe_mode,
    saxe_mode_discrete,
    saxe_plateau_time,
    stability_bound,
)
from .dropout import dropout_learning_time, dropout_mode, dropout_shared_minimum, input_noise_mode
from .features import decompose_run, relu_moments
from .hierarchy import (
    hierarchy_covariance,
    hierarchy_eigenvalues,
    hierarchy_levels,
    hierarchy_modes,
    hierarchy_singular_values,
    leaf_correlations,
)
from .mp import (
    asymptotic_test_error,
    bayes_error,
    mp_bulk_nodes,
    mp_density,
    mp_edges,
    optimal_stopping,
    stieltjes,
    test_error,
    train_error,
)
from .online import online_test_error, online_test_error_optimal, optimal_online_rate, optimal_online_time

__all__ = [
    "asymptotic_test_error",
    "bayes_error",
    "committee_drift",
    "committee_error",
    "committee_ode",
    "decompose_run",
    "dropout_learning_time",
    "dropout_mode",
    "dropout_shared_minimum",
    "hierarchy_covariance",
    "hierarchy_eigenvalues",
    "hierarchy_levels",
    "hierarchy_modes",
    "hierarchy_singular_values",
    "input_noise_mode",
    "leaf_correlations",
    "mode_oracle",
    "mp_bulk_nodes",
    "mp_density",
    "mp_edges",
    "online_test_error",
    "online_test_error_optimal",
    "optimal_online_rate",
    "optimal_online_time",
    "optimal_stopping",
    "relu_moments",
    "saxe_escape_time",
    "saxe_mode",
    "saxe_mode_discrete",
    "saxe_plateau_time",
    "stability_bound",
    "stieltjes",
    "test_error",
    "train_error",
]
