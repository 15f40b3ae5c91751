"""DTC on a 3-hidden-layer MLP (784-512-256-128-10) on MNIST through the Python API.

Every hidden layer is one unit group; DTC scores and shrinks all three each cycle and records
its measurements per group, so ``tomoprune analyze OUT`` runs the Gibbs analysis layer by layer.

    PYTHONPATH=src python examples/deep_mlp_gibbs.py --data-dir ../shared/data/mnist --out OUT
    tomoprune analyze OUT --out OUT/analysis
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

from tomoprune import Compressor, Schedule
from tomoprune.data.datasets import load_dataset


def mlp(widths: list[int], generator: torch.Generator) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Flatten()]
    for fan_in, fan_out in zip(widths, widths[1:], strict=False):
        layers += [nn.Linear(fan_in, fan_out, bias=False), nn.ReLU()]
    model = nn.Sequential(*layers[:-1])  # no ReLU after the output layer
    for layer in model:
        if isinstance(layer, nn.Linear):
            nn.init.xavier_normal_(layer.weight, generator=generator)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--hidden", default="512,256,128")
    parser.add_argument("--steps-per-cycle", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--fraction", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=42424242)
    args = parser.parse_args()
    data = load_dataset("mnist", args.data_dir)
    hidden = [int(w) for w in args.hidden.split(",")]
    model = mlp([784, *hidden, data.num_classes], torch.Generator().manual_seed(args.seed))
    compressor = Compressor(
        model,
        data.train_x[:1],
        scorer="dtc",
        schedule=Schedule(fraction=args.fraction, min_width=10),
        seed=args.seed,
    )
    rows = compressor.fit(
        data.train_x,
        data.train_y,
        data.test_x,
        data.test_y,
        steps_per_cycle=args.steps_per_cycle,
        batch_size=args.batch_size,
        run_dir=args.out,
        seed=args.seed,
    )
    last = rows[-1]
    print(
        f"{len(rows)} cycles; final widths",
        {g.name: g.width for g in compressor.groups},
        f"test accuracy {last['test_accuracy']:.4f}",
    )


if __name__ == "__main__":
    main()
