"""A small residual network for 28x28 single-channel images (MNIST, Fashion-MNIST).

Layout (shapes for a 1x28x28 input, default widths 16, 32, 64 and one block per stage)::

    stem    conv 3x3 (1 -> 16) -> BN -> ReLU                      (16, 28, 28)
    stage 1 BasicBlock(16 -> 16)                                  (16, 28, 28)
    stage 2 BasicBlock(16 -> 32, stride 2, 1x1 conv + BN shortcut) (32, 14, 14)
    stage 3 BasicBlock(32 -> 64, stride 2, 1x1 conv + BN shortcut) (64, 7, 7)
    head    global average pool -> Linear(64 -> classes)

A BasicBlock is He et al.'s: conv 3x3 -> BN -> ReLU -> conv 3x3 -> BN, plus the shortcut, then
ReLU. The residual additions tie the channels of every block's output to its shortcut, which
is what structural pruning must respect (the channels of a stage are removed together).

Unlike the other built-ins this is not an ``nn.Sequential`` (the additions need a forward of
their own), so ``models.spec`` records it as its builder's name plus the constructor arguments
(``ResNet.builder_arguments``) and rebuilds it by name. About 78k parameters: a training step
at batch 128 takes tens of milliseconds on one CPU core.

Initialisation: convolutions Kaiming-normal (fan-out, ReLU gain), BatchNorm weight 1 and bias
0, the Linear head PyTorch's default; every draw comes from the ``generator`` passed in, in
module order, so a run is reproducible.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from tomoprune.models import MODEL_REGISTRY
from tomoprune.models.lenet import init_layer_

BUILDER_NAME = "resnet"
DEFAULT_WIDTHS = (16, 32, 64)
DEFAULT_BLOCKS = (1, 1, 1)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with BatchNorm and a residual connection."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + shortcut)  # the residual addition couples the channels


class ResNet(nn.Module):
    """Stem, ``len(widths)`` stages of BasicBlocks (stride 2 from the second on), pool, Linear."""

    def __init__(
        self,
        *,
        in_channels: int = 1,
        num_classes: int = 10,
        widths: tuple[int, ...] = DEFAULT_WIDTHS,
        blocks: tuple[int, ...] = DEFAULT_BLOCKS,
    ) -> None:
        super().__init__()
        widths, blocks = tuple(int(w) for w in widths), tuple(int(b) for b in blocks)
        if not widths or len(widths) != len(blocks):
            raise ValueError("widths and blocks must be non-empty and of the same length")
        if min(widths) < 1 or min(blocks) < 1 or in_channels < 1 or num_classes < 1:
            raise ValueError("channels, widths, blocks and classes must be positive")
        self.builder_arguments: dict[str, Any] = {
            "in_channels": in_channels,
            "num_classes": num_classes,
            "widths": list(widths),
            "blocks": list(blocks),
        }
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(),
        )
        stages = []
        channels = widths[0]
        for index, (width, count) in enumerate(zip(widths, blocks, strict=True)):
            stride = 1 if index == 0 else 2
            stage = [BasicBlock(channels, width, stride)]
            stage += [BasicBlock(width, width) for _ in range(count - 1)]
            stages.append(nn.Sequential(*stage))
            channels = width
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))  # (N, widths[-1], H / 2^(stages-1), ...)
        return self.fc(self.flatten(self.pool(x)))  # (N, classes)


def initialise_(model: nn.Module, generator: torch.Generator) -> nn.Module:
    """Kaiming-normal convolutions, unit BatchNorm, default Linear; draws in module order."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(
                    module.weight, mode="fan_out", nonlinearity="relu", generator=generator
                )
            elif isinstance(module, nn.BatchNorm2d):
                module.weight.fill_(1.0)
                module.bias.zero_()
            elif isinstance(module, nn.Linear):
                init_layer_(module, generator)
    return model


def rebuild(arguments: dict[str, Any]) -> ResNet:
    """The architecture ``builder_arguments`` describe (weights uninitialised)."""
    return ResNet(
        in_channels=int(arguments["in_channels"]),
        num_classes=int(arguments["num_classes"]),
        widths=tuple(arguments["widths"]),
        blocks=tuple(arguments["blocks"]),
    )


@MODEL_REGISTRY.register(BUILDER_NAME)
def build_resnet(
    config, input_shape: tuple[int, ...], num_classes: int, generator: torch.Generator
) -> ResNet:
    """The small ResNet for ``(C, H, W)`` inputs (designed for 1x28x28; any H, W >= 4 work)."""
    if len(input_shape) != 3:
        raise ValueError(
            f"the resnet model needs image inputs (C, H, W), got shape {tuple(input_shape)}"
        )
    channels, height, width = input_shape
    if min(height, width) < 4:
        raise ValueError(
            f"the resnet model needs inputs of at least 4x4 pixels, got {height}x{width}"
        )
    return initialise_(ResNet(in_channels=channels, num_classes=num_classes), generator)
