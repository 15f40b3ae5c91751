"""2:4 sparse matrix products on a CUDA GPU: a SparseGPT 2:4 weight in torch's semi-structured
format (``posttraining.export.semi_structured_24`` layout, run as ``SparseSemiStructuredTensor``)
against the same weight dense, float16, for the projection shapes of a 4096-wide transformer.

Without a CUDA device with sparse tensor cores (compute capability 8.0 or later) every row is
recorded as skipped with the reason; the values of the format are checked on CPU by the tests.
"""

from __future__ import annotations

import torch

from benchmarks.common import Measurement, measure, skipped, write_results
from tomoprune.posttraining.masks import keep_n_of_m

SHAPES = ((4096, 4096), (11008, 4096), (4096, 11008))
TOKENS = 2048


def main() -> None:
    rows: list[Measurement] = []
    usable = torch.cuda.is_available() and torch.cuda.get_device_capability()[0] >= 8
    for out_features, in_features in SHAPES:
        label = f"{out_features}x{in_features} x {TOKENS} tokens"
        if not usable:
            rows.append(skipped(label, "no CUDA device with sparse tensor cores"))
            continue
        from torch.sparse import to_sparse_semi_structured

        g = torch.Generator(device="cuda").manual_seed(0)
        w = torch.randn(out_features, in_features, device="cuda", generator=g)
        w = (w * keep_n_of_m(w.abs(), 2, 4)).half()
        x = torch.randn(in_features, TOKENS, device="cuda", generator=g).half()
        sparse = to_sparse_semi_structured(w)

        def dense_mm(w=w, x=x):
            y = w @ x
            torch.cuda.synchronize()
            return y

        def sparse_mm(s=sparse, x=x):
            y = s @ x
            torch.cuda.synchronize()
            return y

        dense, expected = measure(f"dense {label}", dense_mm, repeats=20, warmup=3)
        fast, got = measure(f"2:4 {label}", sparse_mm, repeats=20, warmup=3)
        error = float((got - expected).abs().max() / expected.abs().max())
        rows.append(dense)
        rows.append(fast.with_extra(speedup=dense.median_s / fast.median_s, max_rel_diff=error))
    write_results(
        "posttraining_24",
        rows,
        description=(
            "float16 matrix products with a 2:4 sparse weight (torch semi-structured, CUTLASS) "
            "against the same weight dense, on CUDA."
        ),
        config={"shapes": [list(s) for s in SHAPES], "tokens": TOKENS, "dtype": "float16"},
        notes=["Needs a CUDA GPU of compute capability >= 8.0; skipped rows say why not."],
    )


if __name__ == "__main__":
    main()
