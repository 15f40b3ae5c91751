"""PMMP: probabilistic minimax pruning, solved without Monte-Carlo sampling.

Every regularised weight ``theta_i`` gets a companion value ``w_i``, a keep probability
``pi_i in [0, 1]`` and a Lagrange multiplier ``u_i``. The problem is::

    min_{theta, w, pi} max_{u} L(theta) + alpha sum_i pi_i
                                + sum_i u_i [(theta_i - w_i pi_i)^2 + w_i^2 pi_i (1 - pi_i)]

The bracket is ``E_{z ~ Bernoulli(pi)} (theta - w z)^2`` in closed form (``bernoulli_bracket``),
so the constraint says "theta is the companion switched on with probability pi", and
``alpha sum pi`` is the expected l0 norm. The bracket is linear in ``pi`` (its derivative is
``w^2 - 2 w theta``), so each ``pi_i`` is driven towards 0 or 1.

Updates, one per training step: ``theta`` by the training loop's optimizer (the bracket's
gradient arrives through ``penalty``), ``w`` and ``pi`` by descent with their own Adam
(learning rate ``lr``), ``u`` by plain gradient ascent ``u += u_lr * bracket`` (the bracket
is >= 0, so the multipliers only grow); ``pi`` is clipped to [0, 1] after each step.
Initialisation: ``w = theta``, ``pi = 1``, ``u = u0``. ``alpha`` is scaled per layer by
``1/size`` with ``layer_normalise``.

Training with PMMP is converged only once nearly all ``pi`` are decided (near 0 or 1):
``SettledStop`` adds that condition to a plateau rule.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from tomoprune.engine.method import StopRule
from tomoprune.methods.l0.base import Regulariser
from tomoprune.methods.l0.settings import PMMP


def bernoulli_bracket(theta: torch.Tensor, w: torch.Tensor, pi: torch.Tensor) -> torch.Tensor:
    """``E_{z ~ Bernoulli(pi)} (theta - w z)^2 = (theta - w pi)^2 + w^2 pi (1 - pi)``, elementwise."""
    return (theta - w * pi).square() + w.square() * pi * (1.0 - pi)


class PMMPHook(Regulariser):
    """The PMMP hook: owns the companions ``w, pi, u`` and their updates."""

    name = "pmmp"

    def __init__(
        self,
        *,
        alpha: float,
        u0: float = 0.0,
        lr: float = 1e-3,
        u_lr: float = 1.0,
        decided_tolerance: float = 0.01,
        include_biases: bool = True,
        layer_normalise: bool = False,
    ) -> None:
        super().__init__(
            alpha=alpha, rho=0.0, include_biases=include_biases, layer_normalise=layer_normalise
        )
        if u0 < 0:
            raise ValueError(f"u0 must be non-negative (a multiplier of a >= 0 term), got {u0}")
        self.u0 = float(u0)
        self.lr = float(lr)
        self.u_lr = float(u_lr)
        self.decided_tolerance = float(decided_tolerance)
        # parameter name -> companion tensors, created in on_phase_start
        self.w: dict[str, torch.Tensor] = {}
        self.pi: dict[str, torch.Tensor] = {}
        self.u: dict[str, torch.Tensor] = {}
        self._optimizer: torch.optim.Optimizer | None = None
        self._last: dict[str, float] = {}

    # -- companions ----------------------------------------------------------------------
    def init_companions(self, model: nn.Module) -> None:
        """``w = theta``, ``pi = 1``, ``u = u0`` for every regularised parameter."""
        self.w, self.pi, self.u = {}, {}, {}
        for item in self.parameters(model):
            p = item.param.detach()
            self.w[item.name] = p.clone().requires_grad_(True)
            self.pi[item.name] = torch.ones_like(p).requires_grad_(True)
            self.u[item.name] = torch.full_like(p, self.u0).requires_grad_(True)
        self._optimizer = torch.optim.Adam([*self.w.values(), *self.pi.values()], lr=self.lr)

    def on_phase_start(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        self.init_companions(model)

    def _companions(self, name: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        try:
            return self.w[name], self.pi[name], self.u[name]
        except KeyError:
            raise RuntimeError(
                f"PMMP has no companion for {name!r}; call init_companions(model) first"
            ) from None

    # -- the objective -------------------------------------------------------------------
    def value(self, model: nn.Module) -> torch.Tensor:
        """``alpha sum scale * pi + sum u * bracket``: the PMMP terms of the Lagrangian."""
        terms = []
        for item in self.parameters(model):
            w, pi, u = self._companions(item.name)
            bracket = bernoulli_bracket(item.param, w, pi)
            terms.append(self.alpha * item.scale * pi.sum() + (u * bracket).sum())
        return torch.stack(terms).sum()

    def penalty(self, model: nn.Module) -> torch.Tensor:
        return self.value(model)

    @torch.no_grad()
    def before_step(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        for u in self.u.values():  # ascent; d(objective)/du is the bracket >= 0
            if u.grad is not None:
                u.add_(self.u_lr * u.grad)
                u.grad = None
        assert self._optimizer is not None
        self._optimizer.step()  # descent on w and pi
        self._optimizer.zero_grad(set_to_none=True)

    @torch.no_grad()
    def after_step(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        for pi in self.pi.values():
            pi.clamp_(0.0, 1.0)

    # -- progress ------------------------------------------------------------------------
    def decided_fraction(self) -> float:
        """Share of probabilities within ``decided_tolerance`` of 0 or 1."""
        if not self.pi:
            return 0.0
        decided = sum(
            int((torch.minimum(pi, 1.0 - pi) <= self.decided_tolerance).sum())
            for pi in self.pi.values()
        )
        return decided / sum(pi.numel() for pi in self.pi.values())

    @torch.no_grad()
    def on_phase_end(self, model: nn.Module) -> None:
        total = sum(pi.numel() for pi in self.pi.values())
        brackets = [
            bernoulli_bracket(item.param, *self._companions(item.name)[:2]).sum()
            for item in self.parameters(model)
        ]
        self._last = {
            "pmmp_penalty": float(self.value(model)),
            "pmmp_expected_l0": float(sum(pi.sum() for pi in self.pi.values())),
            "pmmp_kept_probability_share": float(
                sum(int((pi > 0.5).sum()) for pi in self.pi.values()) / total
            ),
            "pmmp_decided_fraction": self.decided_fraction(),
            "pmmp_mean_multiplier": float(sum(u.sum() for u in self.u.values()) / total),
            "pmmp_constraint": float(torch.stack(brackets).sum()),
        }

    def metrics(self) -> dict[str, float]:
        return dict(self._last)

    def relaxed(self):
        return None

    def state_dict(self) -> dict[str, Any]:
        return {
            "w": {k: v.detach().cpu() for k, v in self.w.items()},
            "pi": {k: v.detach().cpu() for k, v in self.pi.items()},
            "u": {k: v.detach().cpu() for k, v in self.u.items()},
            "optimizer": None if self._optimizer is None else self._optimizer.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        def leaf(t: torch.Tensor) -> torch.Tensor:
            return t.clone().requires_grad_(True)

        self.w = {k: leaf(v) for k, v in state["w"].items()}
        self.pi = {k: leaf(v) for k, v in state["pi"].items()}
        self.u = {k: leaf(v) for k, v in state["u"].items()}
        self._optimizer = torch.optim.Adam([*self.w.values(), *self.pi.values()], lr=self.lr)
        if state["optimizer"] is not None:
            self._optimizer.load_state_dict(state["optimizer"])


class SettledStop:
    """Stop once ``plateau`` says so AND at least ``fraction`` of PMMP's ``pi`` are decided.

    The plateau rule sees every measurement, so its smoothing stays current while the
    probabilities are still settling.
    """

    def __init__(self, plateau: StopRule, pmmp: PMMPHook, *, fraction: float = 0.99) -> None:
        self.plateau = plateau
        self.pmmp = pmmp
        self.fraction = float(fraction)
        self.plateaued = False

    def update(self, step: int, validation_loss: float) -> bool:
        self.plateaued = self.plateau.update(step, validation_loss) or self.plateaued
        if getattr(self.plateau, "diverged", False):
            return True
        return self.plateaued and self.pmmp.decided_fraction() >= self.fraction

    def describe(self) -> dict[str, Any]:
        return {
            "rule": "plateau_and_settled",
            "settled_fraction": self.fraction,
            "decided_tolerance": self.pmmp.decided_tolerance,
            "plateau": self.plateau.describe(),
        }


def pmmp_hook(settings: PMMP) -> PMMPHook:
    """``PMMP.build()``: the training hook."""
    return PMMPHook(
        alpha=settings.alpha,
        u0=settings.u0,
        lr=settings.pmmp_lr,
        u_lr=settings.pmmp_u_lr,
        decided_tolerance=settings.pmmp_decided_tolerance,
        include_biases=settings.include_biases,
        layer_normalise=settings.layer_normalise,
    )
