"""Greedy pruning with and without the theory's output projection on the width experiment's
Digits MLP: Delta, accuracy and how often the ball clips.

Run from the repository root (a few minutes on a 2-core CPU):

    PYTHONPATH=src python docs/results/greedy-projection/measure.py --out out/projection

Nets: ``tomoprune reproduce width-tradeoff``'s unstructured Digits MLP (64 -> w -> 40 -> 10,
no biases, Adam, 60 epochs, seed 0), trained once under ``OUT/nets``. Set-ups as in the paper:
W1 as a pair scored at layer 2, W2 as a wide layer; alpha 0.9, p 0.3, 512 calibration samples,
8 rescoring rounds for the pair, ``repeats`` draws (seeds 0 .. repeats-1) with the projection
off and on. Clipping: the share of test samples whose compressed layer output lies outside the
ball (the samples the projection moves), and the same for the dense network's layer output.
Writes ``OUT/projection.json`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import copy
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from tomoprune.methods.greedy.algorithm import greedy_compress
from tomoprune.methods.greedy.layers import position_of
from tomoprune.methods.greedy.metrics import normalised_error, outputs, scale_constants, task_score
from tomoprune.methods.greedy.params import GreedyParams
from tomoprune.methods.greedy.projection import insertion_point
from tomoprune.models.projection import BallProjection, clipped_shares
from tomoprune.records.provenance import provenance
from tomoprune.reproduce.width import SETUPS, WidthConfig, load_data, trained_net


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True)
    parser.add_argument("--widths", default="10,100,1000")
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    config = WidthConfig(
        dataset="digits", widths=tuple(int(w) for w in args.widths.split(",")), seeds=1,
        repeats=args.repeats, architectures=("unstructured",),
    )  # fmt: skip
    data = load_data(config)
    calibration = data.train_x[: config.calibration_size]
    rows = []
    for width in config.widths:
        model = trained_net(config, data, "unstructured", width, 0, out / "nets")
        dense_out = outputs(model, data.test_x, data.kind)
        constants = scale_constants(model)
        dense_score = task_score(model, data.test_x, data.test_y, data.kind)
        for setup, layer, role in SETUPS:
            sets = {"wide_layers": (layer,), "pair_layers": ()} if role == "wide" else {
                "wide_layers": (), "pair_layers": (layer,)}  # fmt: skip
            base = GreedyParams(
                alpha=config.alpha, p=config.p, calibration_size=config.calibration_size,
                rescore_rounds=config.rescore_rounds, **sets,
            )  # fmt: skip
            measured: dict[bool, list[dict]] = {False: [], True: []}
            for project in (False, True):
                for repeat in range(config.repeats):
                    params = GreedyParams(**{**asdict(base), "project_output": project,
                                             "seed": repeat})  # fmt: skip
                    result = greedy_compress(model, calibration, params)
                    error = normalised_error(
                        model, result.model, data.test_x, data.kind, dense_outputs=dense_out,
                        constants=constants,
                    )  # fmt: skip
                    entry = {
                        "delta": error["delta"],
                        "score": task_score(result.model, data.test_x, data.test_y, data.kind),
                        "weights": [p.detach().clone() for p in result.model.parameters()],
                    }
                    if project:
                        (record,) = result.layers
                        (test_share,) = clipped_shares(result.model, data.test_x).values()
                        dense = copy.deepcopy(model)
                        at = insertion_point(dense, position_of(dense, layer))
                        dense.insert(at, BallProjection(record["radius"]))
                        (dense_share,) = clipped_shares(dense, data.test_x).values()
                        ball = next(m for m in result.model if isinstance(m, BallProjection))
                        before_ball = result.model[: list(result.model).index(ball)](data.test_x)
                        dense_layer = dense[:at](data.test_x)
                        entry.update(
                            radius=record["radius"], calibration_clipped=record["clipped_share"],
                            test_clipped=test_share, dense_test_clipped=dense_share,
                            norm_over_radius=float(ball.norms(before_ball).max()) / ball.radius,
                            dense_norm_over_radius=float(ball.norms(dense_layer).max())
                            / ball.radius,
                        )  # fmt: skip
                    measured[project].append(entry)
            off, on = measured[False], measured[True]
            same_weights = all(
                all(torch.equal(a, b) for a, b in zip(x["weights"], y["weights"], strict=True))
                for x, y in zip(off, on, strict=True)
            )
            row = {
                "width": width, "setup": setup, "dense_accuracy": dense_score,
                "c1": constants["c1"], "radius": on[0]["radius"],
                "delta_off": float(np.mean([e["delta"] for e in off])),
                "delta_on": float(np.mean([e["delta"] for e in on])),
                "accuracy_off": float(np.mean([e["score"] for e in off])),
                "accuracy_on": float(np.mean([e["score"] for e in on])),
                "test_clipped_mean": float(np.mean([e["test_clipped"] for e in on])),
                "test_clipped_max": float(np.max([e["test_clipped"] for e in on])),
                "calibration_clipped_mean": float(
                    np.mean([e["calibration_clipped"] for e in on])
                ),
                "dense_test_clipped": on[0]["dense_test_clipped"],
                # largest ||layer output|| / radius over test samples (and repeats)
                "largest_norm_over_radius": float(np.max([e["norm_over_radius"] for e in on])),
                "dense_largest_norm_over_radius": on[0]["dense_norm_over_radius"],
                "same_weights_on_off": same_weights,
            }  # fmt: skip
            rows.append(row)
            print(json.dumps(row), flush=True)
    record = {"config": asdict(config), "rows": rows, "provenance": provenance()}
    (out / "projection.json").write_text(json.dumps(record, indent=1))
    print("| width | set-up | radius | Delta off | Delta on | acc off | acc on | test clipped "
          "(mean, max) | max norm / radius (compressed, dense) | same weights |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['width']} | {r['setup']} | {r['radius']:.3g} | {r['delta_off']:.3g} | "
            f"{r['delta_on']:.3g} | {r['accuracy_off']:.4f} | {r['accuracy_on']:.4f} | "
            f"{r['test_clipped_mean']:.4f}, {r['test_clipped_max']:.4f} | "
            f"{r['largest_norm_over_radius']:.3f}, {r['dense_largest_norm_over_radius']:.3f} | "
            f"{r['same_weights_on_off']} |"
        )


if __name__ == "__main__":
    main()
