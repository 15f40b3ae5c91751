"""Benchmark ``solver``: the l1 backends on problems built the way DTC builds them.

For each width ``m`` the problem is DTC's: ``n = int(m * (1 - 0.9))`` measurements, a standard
Gaussian ``Phi`` drawn after seeding numpy's legacy generator with 42424242, the orthonormal
DCT-I basis, and ``x`` the incoming weight ray (row sums) of a Xavier-normal ``m x 784`` matrix;
``lam = 0.3``. Each timed call forms ``A = Phi Psi`` (row-wise DCT-I) and solves, so the times
are what one DTC ray costs. Speed-ups and objective gaps are computed within the same run.

Run: ``python -m benchmarks.bench_solver`` or ``python benchmarks/bench_solver.py`` (about two minutes on 2 cores); writes
``benchmarks/results/solver.json`` and refreshes ``benchmarks/results/README.md``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

if __package__ in (None, ""):  # run as a file: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import Measurement, measure, skipped, write_results  # noqa: E402
from tomoprune.cs.operators import (  # noqa: E402
    dct_basis,
    gaussian_sensing_matrix,
    measurement_count,
    sensing_times_basis,
)
from tomoprune.cs.solvers import solve_l1  # noqa: E402
from tomoprune.reproduce.paper import default_reference_path, load_reference_run  # noqa: E402

SIZES = (512, 2048, 8192)
LAM = 0.3  # the published DTC lambda
FRACTION = 0.1  # the published measurement fraction
SEED = 42424242  # the published seed
SOLVERS = ("native", "lasso_lars", "clarabel", "scs")
# fewer repeats where one solve takes seconds
REPEATS = {512: 7, 2048: 3, 8192: 2}
# one BLAS thread: the CS solve runs beside torch on 2 cores (see the native row at 2 threads)
BLAS_THREADS = 1
# cvxpy solves at m = 8192 take minutes each on 2 cores (Clarabel's KKT system holds the dense
# 819 x 8192 block; SCS needs thousands of iterations), which no benchmark run should wait for
SKIP = {
    (8192, "clarabel"): "skipped: one solve takes minutes on 2 cores",
    (8192, "scs"): "skipped: one solve takes minutes on 2 cores",
}
DENSE_BASIS_SIZES = (512, 2048)  # forming Psi densely at 8192 needs 0.5 GiB per matrix


def dtc_problem(m: int) -> tuple[np.ndarray, np.ndarray]:
    """``(Phi, y)`` for width ``m`` as DTC builds them."""
    n = measurement_count(m, FRACTION, "reference")
    weights = np.random.default_rng(SEED).normal(scale=np.sqrt(2.0 / (m + 784)), size=(m, 784))
    ray = weights.sum(axis=1)  # (m,) incoming weight ray a_in
    phi = gaussian_sensing_matrix(n, m, np.random.RandomState(SEED))  # (n, m)
    return phi, phi @ ray


def published_problem() -> tuple[np.ndarray, np.ndarray] | None:
    """``(Phi, y)`` of the published run's first cycle (incoming ray, m = 512), if available."""
    if not default_reference_path().is_file():
        return None
    y = load_reference_run().measurements_previous_layer[0]
    m = 512
    phi = gaussian_sensing_matrix(y.size, m, np.random.RandomState(SEED))
    return phi, y


def bench_size(m: int, problem: tuple[np.ndarray, np.ndarray] | None = None) -> list[Measurement]:
    phi, y = dtc_problem(m) if problem is None else problem
    label = f"m={m}" if problem is None else f"m={m} published"
    n = phi.shape[0]
    repeats = REPEATS[m]
    warmup = 1 if m <= 2048 else 0
    rows: list[Measurement] = []
    results = {}
    for solver in SOLVERS:
        name = f"{solver} {label}"
        if (m, solver) in SKIP:
            rows.append(skipped(name, SKIP[(m, solver)], m=m, n=n, solver=solver))
            continue

        def run(solver: str = solver):
            return solve_l1(sensing_times_basis(phi), y, LAM, solver=solver)

        row, result = measure(name, run, repeats=repeats, warmup=warmup, m=m, n=n, solver=solver)
        results[solver] = result
        rows.append(row)
    with threadpool_limits(limits=2):

        def run_two_threads():
            return solve_l1(sensing_times_basis(phi), y, LAM, solver="native")

        row, result = measure(
            f"native {label} (2 BLAS threads)",
            run_two_threads,
            repeats=repeats,
            warmup=warmup,
            m=m,
            n=n,
            solver="native",
        )
    rows.append(row.with_extra(blas_threads=2))
    results["native (2 threads)"] = result

    best = min(r.objective for r in results.values())
    native_s = next(r.median_s for r in rows if r.name == f"native {label}")
    out = []
    for row in rows:
        key = row.extra["solver"] if "2 BLAS" not in row.name else "native (2 threads)"
        if key not in results:
            out.append(row)
            continue
        res = results[key]
        out.append(
            row.with_extra(
                slower_than_native=row.median_s / native_s,
                objective=res.objective,
                rel_objective_gap=(res.objective - best) / best,
                duality_gap=res.duality_gap,
                status=res.status,
                iterations=res.iterations,
                nonzeros=int(np.count_nonzero(res.coef)),
            )
        )
    if problem is not None:
        return out
    fast, _ = measure(f"form A row-wise DCT m={m}", lambda: sensing_times_basis(phi), repeats=5)
    out.append(fast.with_extra(m=m, n=n))
    if m in DENSE_BASIS_SIZES:
        dense, _ = measure(
            f"form A dense Phi @ Psi m={m}", lambda: phi @ dct_basis(m), repeats=3, m=m, n=n
        )
        out.append(dense.with_extra(slower_than_native=dense.median_s / fast.median_s))
    return out


def main() -> None:
    rows: list[Measurement] = []
    with threadpool_limits(limits=BLAS_THREADS):
        for m in SIZES:
            rows += bench_size(m)
            print(f"m={m} done", flush=True)
        published = published_problem()
        if published is None:
            rows.append(skipped("m=512 published", f"{default_reference_path()} not found"))
        else:
            rows += bench_size(512, published)
        path = write_results(
            "solver",
            rows,
            description=(
                "One DTC ray solve, min ||Phi Psi w - y||^2 + 0.3 ||w||_1, forming A = Phi Psi by "
                "the row-wise DCT-I inside the timed call. `slower_than_native` is the median time "
                "over the native solver's at the same m (for the dense-basis row: over the row-wise "
                "DCT); `rel_objective_gap` is relative to the best objective found at that m. "
                "'published' rows solve the published run's first-cycle incoming-ray "
                "measurements (trained weights) with its Phi."
            ),
            config={
                "sizes": SIZES,
                "lam": LAM,
                "fraction": FRACTION,
                "seed": SEED,
                "repeats": REPEATS,
                "blas_threads": BLAS_THREADS,
                "solvers": SOLVERS,
            },
            notes=[
                *(f"m={m} {solver}: {reason}" for (m, solver), reason in SKIP.items()),
                "BLAS is limited to 1 thread (threadpoolctl) except in the '2 BLAS threads' rows; "
                "when torch trains in the same process on 2 cores, keep BLAS at 1 thread during "
                "CS solves.",
                "numpy and scipy load separate OpenBLAS libraries and the native solver uses "
                "both (scipy's BLAS in its path, numpy for A^T y and the objective); with 2 "
                "threads each, the idle threads of one spin against the other's work, which is "
                "why the m=2048 row is slower on 2 threads than on 1.",
            ],
        )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
