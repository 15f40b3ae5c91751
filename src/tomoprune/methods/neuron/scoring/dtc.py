"""Dual Tomographic Compression scoring (Süzen, arXiv:2505.23869).

Each hidden unit's two weight rays (incoming and outgoing sums) are measured with a Gaussian
sensing matrix and reconstructed by inverse compressed sensing in an orthonormal basis
(``method.basis``; the published DCT-I by default)::

    y = Phi a,    w* = argmin_w ||Phi Psi w - y||_2^2 + lambda ||w||_1

and the unit's score is ``w*_in + w*_out``: the recovered DCT coefficients are used directly as
per-unit scores, as in the published experiment. One Phi serves both rays of a group in a
cycle; each group draws its Phi from its own stream (``ScoringContext.rng``). The settings
(``DTC``) are in ``settings``; this module is the work ``DTC.score`` does.
"""

from __future__ import annotations

import numpy as np

from tomoprune.cs.bases import get_basis
from tomoprune.cs.operators import gaussian_sensing_matrix, measurement_count, sensing_times_basis
from tomoprune.cs.solvers import solve_l1
from tomoprune.cs.weight_level import weight_level_scores
from tomoprune.methods.neuron.scoring import ScoreResult
from tomoprune.methods.neuron.scoring.context import GroupWeights, ScoringContext
from tomoprune.methods.neuron.scoring.settings import DTC

LAYERS = ("previous_layer", "next_layer")


def dtc_scores(settings: DTC, weights: GroupWeights, ctx: ScoringContext) -> ScoreResult:
    """``DTC.score``: the paper's ray scores, or the weight-level variant's."""
    if settings.variant == "weight_level":
        return weight_level_unit_scores(settings, weights, ctx)
    return ray_scores(settings, weights, ctx)


def ray_scores(params: DTC, weights: GroupWeights, ctx: ScoringContext) -> ScoreResult:
    """The paper's DTC: each weight ray measured, reconstructed, and the coefficients summed."""
    rays = [r.cpu().double().numpy() for r in weights.rays()]
    m = rays[0].shape[0]
    n = measurement_count(m, params.measurement_fraction, params.measurement_rule)
    phi = gaussian_sensing_matrix(n, m, ctx.rng("sensing"))  # (n, m)
    basis = get_basis(params.basis, m, ctx.params.seed)
    a = sensing_times_basis(phi, basis)  # (n, m) = Phi @ Psi, without forming Psi
    measurements, coefficients, solver_info = {}, {}, {}
    objective = 0.0
    for layer, ray in zip(LAYERS, rays, strict=True):
        y = phi @ ray  # (n,)
        result = solve_l1(a, y, params.lam, solver=params.solver)
        measurements[layer] = y
        coefficients[layer] = result.coef
        objective += result.objective
        solver_info[layer] = {
            "objective": result.objective,
            "duality_gap": result.duality_gap,
            "iterations": result.iterations,
            "status": result.status,
            "solver": result.solver,
            "seconds": result.seconds,
        }
    scores = coefficients["previous_layer"] + coefficients["next_layer"]
    statuses = {info["status"] for info in solver_info.values()}
    return ScoreResult(
        scores=scores,
        objective=objective,
        measurements={
            "group": weights.name,
            "width_before": m,
            "n_measurements": n,
            "measurements": measurements,
            "coefficients": coefficients,
            "scores": scores,
            "solver": solver_info,
        },
        info={
            "n_measurements": n,
            "solver_status": "/".join(sorted(statuses)),
            "score_zero_share": float(np.mean(scores == 0.0)),
        },
    )


def weight_level_unit_scores(
    params: DTC, weights: GroupWeights, ctx: ScoringContext
) -> ScoreResult:
    """Score units from matrix-free reconstructions of both whole weight matrices.

    The group's incoming weights (one row per unit, all producers side by side) and outgoing
    weights (one row per unit, all consumers side by side) are each reconstructed; a unit's
    score is the sum of its two reconstructed row norms.
    """
    layers = {
        "previous_layer": weights.incoming().cpu().double().numpy(),  # (units, fan_in)
        "next_layer": weights.outgoing().cpu().double().numpy(),  # (units, fan_out)
    }
    scores = np.zeros(weights.width)
    solver_info, objective = {}, 0.0
    for offset, (layer, matrix) in enumerate(layers.items()):
        layer_scores, info = weight_level_scores(
            matrix,
            fraction=params.measurement_fraction,
            lam=params.weight_level_lam,
            lam_ratio=params.weight_level_lam_ratio,
            seed=ctx.params.seed + 2 * ctx.group_index + offset,
            granularity="neuron",
            basis=params.weight_level_basis,
        )
        scores += layer_scores
        objective += float(info["objective"])
        solver_info[layer] = {
            k: info[k]
            for k in (
                "n",
                "m",
                "lam",
                "iterations",
                "objective",
                "duality_gap",
                "status",
                "seconds",
                "relative_error",
            )
        }
    return ScoreResult(
        scores=scores,
        objective=objective,
        info={
            "variant": "weight_level",
            "relative_error_previous": solver_info["previous_layer"]["relative_error"],
            "relative_error_next": solver_info["next_layer"]["relative_error"],
            "solver_status": "/".join(sorted({i["status"] for i in solver_info.values()})),
        },
    )
