"""What every sparsity regulariser of the l0 family shares.

A regulariser is a ``TrainingHook`` (the one extension point of the training loop). It adds
its term to training either as an autograd ``penalty`` or as a (sub)gradient written into
``.grad`` in ``before_step``; either way ``value(model)`` returns the same term as a
differentiable tensor, which is what tests compare the applied gradient against and what
``metrics`` reports.

Which parameters are regularised: every parameter of the model's Linear/Conv2d layers (weights
and, with ``include_biases``, biases) and the tables of its Embedding layers (the byte
transformer's token and position embeddings). Normalisation layers (LayerNorm, BatchNorm) are
not: they are few, and a zero gain would switch a whole feature off. With ``layer_normalise``
each layer's term is divided by the layer's parameter count, so small layers are not drowned by
large ones.

A regulariser is a plug-in object (``tomoprune.plugins``): a frozen settings dataclass
(``DRR(alpha=3e-5, beta=10)``) registered once in ``REGULARISERS``, whose ``build()`` makes the
hook. ``regularise(model, DRR(...), optimizer)`` hands that hook to a user's own training loop;
``tomoprune run --method drr`` uses the same object (its settings under ``method.*``). The
settings classes and ``REGULARISERS`` are in ``settings`` (no torch); this module holds the
hooks' shared code.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from tomoprune.engine.hooks import TrainingHook
from tomoprune.methods.l0.settings import REGULARISERS, RegulariserSettings


@dataclass(frozen=True)
class Regularised:
    """One regularised tensor: its name, the parameter, and its layer's weight in the sum."""

    name: str
    param: nn.Parameter
    scale: float


def regularised_parameters(
    model: nn.Module, *, include_biases: bool = True, layer_normalise: bool = False
) -> list[Regularised]:
    """The parameters a regulariser (and TAMADE) acts on, in ``named_parameters`` order.

    ``scale`` is 1, or ``1 / (parameters of the layer)`` with ``layer_normalise``.
    """
    selected: list[Regularised] = []
    for module_name, module in model.named_modules():
        if not isinstance(module, (nn.Linear, nn.Conv2d, nn.Embedding)):
            continue
        tensors = [("weight", module.weight)]
        if include_biases and getattr(module, "bias", None) is not None:
            tensors.append(("bias", module.bias))
        size = sum(t.numel() for _, t in tensors)
        scale = 1.0 / size if layer_normalise else 1.0
        prefix = f"{module_name}." if module_name else ""
        selected += [Regularised(prefix + attr, t, scale) for attr, t in tensors]
    return selected


def _add_grad(param: nn.Parameter, grad: torch.Tensor) -> None:
    if param.grad is None:
        param.grad = grad.clone()
    else:
        param.grad.add_(grad)


class Regulariser(TrainingHook):
    """Base class: stores the shared settings and reports the term's value after a phase.

    Subclasses implement ``value``; they either return it from ``penalty`` (autograd) or
    write its gradient in ``before_step``.
    """

    name = "regulariser"

    def __init__(
        self,
        *,
        alpha: float,
        rho: float = 0.0,
        include_biases: bool = True,
        layer_normalise: bool = False,
    ) -> None:
        self.alpha = float(alpha)
        self.rho = float(rho)
        self.include_biases = include_biases
        self.layer_normalise = layer_normalise
        self._last_value: float | None = None

    def parameters(self, model: nn.Module) -> list[Regularised]:
        return regularised_parameters(
            model, include_biases=self.include_biases, layer_normalise=self.layer_normalise
        )

    def value(self, model: nn.Module) -> torch.Tensor:
        """The regularisation term at the model's current parameters (differentiable)."""
        raise NotImplementedError

    def relaxed(self) -> TrainingHook | None:
        """The hook kept for masked fine-tuning: the ridge term alone, or None when rho = 0."""
        if self.rho == 0.0:
            return None
        return Ridge(
            rho=self.rho, include_biases=self.include_biases, layer_normalise=self.layer_normalise
        )

    def on_phase_end(self, model: nn.Module) -> None:
        with torch.no_grad():
            self._last_value = float(self.value(model))

    def metrics(self) -> dict[str, float]:
        return {} if self._last_value is None else {f"{self.name}_penalty": self._last_value}


class Ridge(Regulariser):
    """``rho * sum_layers scale * ||theta||_2^2``, applied as a gradient in ``before_step``."""

    name = "ridge"

    def __init__(
        self, *, rho: float, include_biases: bool = True, layer_normalise: bool = False
    ) -> None:
        super().__init__(
            alpha=0.0, rho=rho, include_biases=include_biases, layer_normalise=layer_normalise
        )

    def value(self, model: nn.Module) -> torch.Tensor:
        terms = [
            self.rho * item.scale * item.param.square().sum() for item in self.parameters(model)
        ]
        return torch.stack(terms).sum()

    @torch.no_grad()
    def before_step(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        for item in self.parameters(model):
            _add_grad(item.param, (2.0 * self.rho * item.scale) * item.param)

    def relaxed(self) -> TrainingHook | None:
        return self


def regularise(
    model: nn.Module, settings: RegulariserSettings, optimizer: torch.optim.Optimizer
) -> Regulariser:
    """A regulariser's hook, ready for your own training loop.

    In each step add ``hook.penalty(model)`` (when not None) to the loss before ``backward``,
    call ``hook.before_step(model, optimizer)`` before ``optimizer.step()`` and
    ``hook.after_step(model, optimizer)`` after it: the three places the library's own loop
    calls (``tomoprune.engine.hooks``).
    """
    hook = settings.build()
    hook.on_phase_start(model, optimizer)
    return hook


__all__ = [
    "REGULARISERS",
    "Regularised",
    "Regulariser",
    "RegulariserSettings",
    "Ridge",
    "regularise",
    "regularised_parameters",
]
