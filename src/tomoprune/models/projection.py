"""``BallProjection`` under its model-side name; the layer lives in
``tomoprune.structure.projection``, beside the one layer table that lists it (structure sits
below models in the layer order)."""

from tomoprune.structure.projection import BallProjection, clipped_shares

__all__ = ["BallProjection", "clipped_shares"]
