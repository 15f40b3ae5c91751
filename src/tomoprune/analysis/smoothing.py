"""LOWESS smoothing of a per-cycle series, as the DTC paper smooths accuracy for Table 1."""

from __future__ import annotations

import warnings

import numpy as np
from statsmodels.nonparametric.smoothers_lowess import lowess as _sm_lowess

# the share of the points each local fit uses; 0.3 is also the DTC paper's span, which the
# reproductions pass explicitly (``reproduce.paper.LOWESS_FRAC``)
DEFAULT_FRAC = 0.3


def lowess(x: np.ndarray, y: np.ndarray, frac: float = DEFAULT_FRAC) -> np.ndarray:
    """LOWESS fit of ``y`` against ``x``, returned in the input order.

    Parameters
    ----------
    x, y : array_like, shape (n,)
        Abscissa (e.g. sparsity) and values (e.g. test accuracy). Non-finite entries of either
        are left out of the fit and come back as NaN at their positions.
    frac : float
        Share of the points used for each local fit (the paper uses 0.3).

    Returns
    -------
    numpy.ndarray, shape (n,)
        Fitted values, in the order of ``x`` (``statsmodels`` with ``return_sorted=False``).
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"lowess needs two 1-D arrays of one length, got {x.shape} and {y.shape}")
    if not 0.0 < frac <= 1.0:
        raise ValueError(f"lowess frac must be in (0, 1], got {frac}")
    out = np.full_like(y, np.nan)
    keep = np.isfinite(x) & np.isfinite(y)
    if not keep.any():
        return out
    with warnings.catch_warnings():
        # very short series make statsmodels divide by zero in its robustness weights
        warnings.simplefilter("ignore", RuntimeWarning)
        out[keep] = _sm_lowess(y[keep], x[keep], frac=frac, return_sorted=False)
    return out
