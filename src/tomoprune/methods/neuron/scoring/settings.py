"""The built-in unit scorers' settings, registered in ``SCORERS``; no torch is imported here.

Each class is the scorer object itself (``DTC(lam=0.3)``); its ``score`` is the function its
registration names, in the scorer's own module, imported the first time a unit is scored. Kept
apart from that code so ``tomoprune run --help`` and a misspelt ``--set method.KEY`` are
answered before torch loads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tomoprune.errors import InvalidSetting
from tomoprune.methods.neuron.scoring import SCORERS, UnitScorer
from tomoprune.plugins import Interval

SCORING = "tomoprune.methods.neuron.scoring"
# the bases tomoprune.cs.bases registers (a test keeps the two lists equal); a basis registered
# by the user is looked up in that registry, which loads numpy and scipy
BUILTIN_BASES = ("dct1", "dct2", "haar", "identity", "random_orthogonal")


@SCORERS.register(
    "dtc",
    summary="Dual Tomographic Compression: inverse compressed sensing of weight rays",
    implementation=f"{SCORING}.dtc:dtc_scores",
)
@dataclass(frozen=True, kw_only=True)
class DTC(UnitScorer):
    """Inverse compressed sensing settings (lambda, measurement count, solver, basis)."""

    lam: float = 0.3  # l1 weight (lambda) of the compressed-sensing solve
    measurement_fraction: float = 0.1  # measurements per unit: n = fraction x width
    # "reference": n = int(m * (1 - (1 - fraction))) as the notebook computed it (one short
    # of m/10 when m is a multiple of 10); "round": n = max(1, round(fraction * m))
    measurement_rule: Literal["reference", "round"] = "round"
    solver: str = "native"  # l1 solver: native | lasso_lars | scs | clarabel (cvxpy)
    # sparsifying basis of the rays (tomoprune.cs.bases: dct1, dct2, identity, haar,
    # random_orthogonal); the published DCT-I by default
    basis: str = "dct1"
    # "rays": the paper's DTC (one number per unit and layer); "weight_level": reconstruct
    # both whole weight matrices (matrix-free, Section III of the paper) and score each unit by
    # the norms of its reconstructed incoming row and outgoing column
    variant: Literal["rays", "weight_level"] = "rays"
    # l1 weight of the weight-level solve (None: lam_ratio x lambda_max of each layer)
    weight_level_lam: float | None = None
    weight_level_lam_ratio: float = 0.01  # weight-level l1 weight as a share of lambda_max
    # basis of the weight-level reconstruction (same registry; DCT-II by default)
    weight_level_basis: str = "dct2"

    constraints = {
        "lam": Interval(0.0, None, closed="neither"),
        "measurement_fraction": Interval(0.0, 1.0, closed="right"),
        "weight_level_lam": Interval(0.0, None, closed="neither"),
        "weight_level_lam_ratio": Interval(0.0, 1.0, closed="right"),
    }

    def check(self) -> None:
        for key in ("basis", "weight_level_basis"):
            name = getattr(self, key)
            if name in BUILTIN_BASES:
                continue
            # a basis registered by the user: the registry (numpy, scipy) is loaded only then
            from tomoprune.cs.bases import BASES

            if name not in BASES:
                raise InvalidSetting(key, f"one of {', '.join(BASES.names())}", name, owner="DTC")


@SCORERS.register(
    "magnitude",
    summary="signed sum of incoming and outgoing weights",
    implementation=f"{SCORING}.magnitude:magnitude_scores",
)
@dataclass(frozen=True, kw_only=True)
class Magnitude(UnitScorer):
    """score[j] = a_in[j] + a_out[j] (the group's weight rays), in the weights' own precision."""


@SCORERS.register(
    "random",
    summary="units kept uniformly at random (baseline)",
    implementation=f"{SCORING}.random:random_scores",
)
@dataclass(frozen=True, kw_only=True)
class Random(UnitScorer):
    """Keeps ``keep_count`` units drawn from the group's own stream (``ctx.rng``)."""


@SCORERS.register(
    "taylor",
    summary="first-order Taylor: |sum of w * dL/dw| over outgoing weights",
    implementation=f"{SCORING}.data_aware:taylor_scores",
)
@dataclass(frozen=True, kw_only=True)
class Taylor(UnitScorer):
    """Loss change to first order when the unit's outgoing columns are zeroed."""

    batches: int = 1  # calibration batches whose gradients are summed
    constraints = {"batches": Interval(1, None, integer=True)}
    needs_data = True


@SCORERS.register(
    "activation",
    summary="Wanda-style: input norm x |outgoing weights| per unit",
    implementation=f"{SCORING}.data_aware:activation_scores",
)
@dataclass(frozen=True, kw_only=True)
class Activation(UnitScorer):
    """Each unit's input norm to its consumers times the magnitude of its outgoing weights."""

    batches: int = 1  # calibration batches whose activations are pooled
    constraints = {"batches": Interval(1, None, integer=True)}
    needs_data = True


__all__ = ["DTC", "Activation", "Magnitude", "Random", "Taylor"]
