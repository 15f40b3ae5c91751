"""The one training loop (a phase of optimisation steps) and evaluation.

Everything a method adds to training arrives through ``TrainingHook``s on the ``Phase``;
nothing here knows which method is running.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from tomoprune.engine.batches import BatchStream
from tomoprune.engine.method import Phase

Criterion = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def make_criterion(kind: str, log_softmax_dim: str = "classes") -> Criterion:
    """The training loss.

    ``log_softmax_dim="batch"`` reproduces the published network: a log-softmax over dim 0
    (the batch) whose output then goes through cross-entropy (a log-softmax over classes).
    Otherwise the loss is the usual cross-entropy over classes (:func:`class_cross_entropy`).
    """
    if kind == "regression":
        return lambda output, target: F.mse_loss(output.reshape(target.shape), target)
    if kind == "language-model":  # (B, T, symbols) logits against (B, T) ids
        return lambda logits, target: F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), target.reshape(-1)
        )
    if log_softmax_dim == "batch":
        return lambda logits, target: F.cross_entropy(F.log_softmax(logits, dim=0), target)
    return class_cross_entropy


def class_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over classes, ``F.cross_entropy(logits, target)``, computed faster.

    PyTorch's CPU log-softmax over a short last dimension (10 classes) is slow: forward and
    backward of a 512 x 10 batch take ~85 us on two threads (~120 us on one), as long as the
    matrix products of a narrow network. Seen as one ``(1, classes, batch)`` sample with
    ``batch`` positions, the same loss runs the log-softmax along a middle dimension,
    vectorised over the batch, in ~55 us (torch 2.13, 2-core x86 machine). Loss and gradient
    are those of ``F.cross_entropy`` up to rounding in the last bit (the sums over classes are
    ordered differently), so this serves the corrected profile; the reference profile's
    criterion is left as published.
    """
    if logits.dim() != 2:
        return F.cross_entropy(logits, target)
    return F.cross_entropy(logits.t().unsqueeze(0), target.unsqueeze(0))  # (1, C, N), (1, N)


def predictions(logits: torch.Tensor, log_softmax_dim: str) -> torch.Tensor:
    """Predicted classes as the model's own output layer would give them."""
    if log_softmax_dim == "batch":
        logits = F.log_softmax(logits, dim=0)
    return logits.argmax(dim=1)


@dataclass(frozen=True)
class Evaluation:
    accuracy: float | None  # None for regression
    loss: float


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    kind: str,
    batch_size: int,
    log_softmax_dim: str = "classes",
    accuracy_mode: str = "sample_weighted",
) -> Evaluation:
    """Loss and accuracy over ``x`` in fixed-order batches.

    ``accuracy_mode="batch_mean"`` averages per-batch accuracies (the published number, which
    over-weights the short last batch); "sample_weighted" is correct / total. Runs under
    ``torch.inference_mode`` (no autograd bookkeeping; same numbers as ``no_grad``).
    """
    was_training = model.training
    model.eval()
    criterion = make_criterion(kind, log_softmax_dim)
    loss_sum = 0.0
    correct = 0
    batch_accuracies: list[float] = []
    n = x.shape[0]
    for start in range(0, n, batch_size):
        xb, yb = x[start : start + batch_size], y[start : start + batch_size]
        output = model(xb)
        loss_sum += float(criterion(output, yb)) * xb.shape[0]
        if kind == "classification":
            hits = int((predictions(output, log_softmax_dim) == yb).sum())
            correct += hits
            batch_accuracies.append(hits / xb.shape[0])
    model.train(was_training)
    accuracy = None
    if kind == "classification":
        if accuracy_mode == "batch_mean":
            accuracy = sum(batch_accuracies) / len(batch_accuracies)
        else:
            accuracy = correct / n
    return Evaluation(accuracy=accuracy, loss=loss_sum / n)


def make_optimizer(
    model: nn.Module, lr: float, device: torch.device, kernel: str = "fused"
) -> torch.optim.Optimizer:
    """Adam over the model's parameters with the chosen kernel ("fused", "foreach", "for_loop")."""
    params = [p for p in model.parameters() if p.requires_grad]
    if kernel == "fused":
        return torch.optim.Adam(params, lr=lr, fused=True)
    return torch.optim.Adam(params, lr=lr, foreach=kernel == "foreach")


@dataclass
class PhaseResult:
    name: str
    steps: int
    mean_loss: float
    seconds: float
    stopped_by: str  # "max_steps" or "stop_rule"
    validation_curve: list[tuple[int, float]] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)


def train_phase(
    model: nn.Module,
    phase: Phase,
    *,
    stream: BatchStream,
    optimizer: torch.optim.Optimizer,
    criterion: Criterion,
    validation_loss: Callable[[nn.Module], float] | None = None,
    on_step: Callable[[int], None] | None = None,
) -> PhaseResult:
    """Run one phase: up to ``phase.max_steps`` steps, or until its stop rule fires."""
    hooks: Sequence = phase.hooks
    for hook in hooks:
        hook.on_phase_start(model, optimizer)
    model.train()
    loss_total = torch.zeros((), device=next(model.parameters()).device)
    curve: list[tuple[int, float]] = []
    stopped_by = "max_steps"
    started = time.perf_counter()
    steps = 0
    for step in range(1, phase.max_steps + 1):
        x, y = stream.next_batch()
        optimizer.zero_grad(set_to_none=True)
        loss = criterion(model(x), y)
        total = loss
        for hook in hooks:
            extra = hook.penalty(model)
            if extra is not None:
                total = total + extra
        total.backward()
        for hook in hooks:
            hook.before_step(model, optimizer)
        optimizer.step()
        for hook in hooks:
            hook.after_step(model, optimizer)
        loss_total += loss.detach()
        steps = step
        if on_step is not None:
            on_step(step)
        if phase.stop is not None and validation_loss is not None and step % phase.eval_every == 0:
            value = validation_loss(model)
            curve.append((step, value))
            if phase.stop.update(step, value):
                stopped_by = "stop_rule"
                break
    for hook in hooks:
        hook.on_phase_end(model)
    metrics: dict[str, float] = {}
    for hook in hooks:
        metrics.update(hook.metrics())
    return PhaseResult(
        name=phase.name,
        steps=steps,
        mean_loss=float(loss_total) / max(steps, 1),
        seconds=time.perf_counter() - started,
        stopped_by=stopped_by,
        validation_curve=curve,
        metrics=metrics,
    )
