"""Sparsity regularisers, masks and the plateau rule, checked against independent oracles."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from tomoprune.methods.l0.base import REGULARISERS, Ridge
from tomoprune.methods.l0.drr import DRRHook as DRR
from tomoprune.methods.l0.masks import MaskHook
from tomoprune.methods.l0.plateau import PlateauStop
from tomoprune.methods.l0.pmmp import PMMPHook as PMMP
from tomoprune.methods.l0.pmmp import SettledStop, bernoulli_bracket
from tomoprune.methods.l0.rl1 import RL1Hook as RL1


def tiny_model(seed=0):
    g = torch.Generator().manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    return model


def layers_of(model):
    """(weight, bias) of each Linear layer: the oracle's own view of the parameters."""
    return [(m.weight, m.bias) for m in model if isinstance(m, nn.Linear)]


def rl1_oracle(model, alpha, rho, normalise):
    total = 0.0
    for w, b in layers_of(model):
        size = w.numel() + b.numel() if normalise else 1
        flat = torch.cat([w.flatten(), b.flatten()])
        total = total + (alpha * flat.abs().sum() + rho * (flat**2).sum()) / size
    return total


def drr_oracle(model, alpha, beta, rho, normalise):
    total = 0.0
    for w, b in layers_of(model):
        size = w.numel() + b.numel() if normalise else 1
        flat = torch.cat([w.flatten(), b.flatten()])
        total = (
            total
            + (alpha * (1 - torch.exp(-beta * flat.abs())).sum() + rho * (flat**2).sum()) / size
        )
    return total


def applied_gradient(model, hook):
    """What the training loop hands the optimizer for a zero data loss: penalty + before_step."""
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    penalty = hook.penalty(model)
    if penalty is not None:
        penalty.backward()
    hook.before_step(model, None)
    return [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize("normalise", [False, True])
def test_rl1_subgradient_matches_autograd_of_its_penalty(normalise):
    model = tiny_model()
    hook = RL1(alpha=0.3, rho=0.05, layer_normalise=normalise)
    got = applied_gradient(model, hook)
    expected = torch.autograd.grad(
        rl1_oracle(model, 0.3, 0.05, normalise), list(model.parameters())
    )
    for g, e in zip(got, expected, strict=True):
        torch.testing.assert_close(g, e)
    torch.testing.assert_close(hook.value(model), rl1_oracle(model, 0.3, 0.05, normalise))


@pytest.mark.parametrize("normalise", [False, True])
def test_drr_penalty_gradient_matches_autograd_of_its_formula(normalise):
    model = tiny_model(1)
    hook = DRR(alpha=0.2, beta=5.0, rho=0.01, layer_normalise=normalise)
    got = applied_gradient(model, hook)
    expected = torch.autograd.grad(
        drr_oracle(model, 0.2, 5.0, 0.01, normalise), list(model.parameters())
    )
    for g, e in zip(got, expected, strict=True):
        torch.testing.assert_close(g, e)


def test_drr_value_counts_clearly_nonzero_weights():
    model = nn.Sequential(nn.Linear(3, 1, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[0.0, 100.0, -100.0]]))
    assert float(DRR(alpha=1.0, beta=10.0).value(model).detach()) == pytest.approx(2.0)


def test_biases_are_left_alone_when_excluded():
    model = tiny_model()
    got = applied_gradient(model, RL1(alpha=1.0, include_biases=False))
    for (name, _), g in zip(model.named_parameters(), got, strict=True):
        assert bool(g.abs().sum() == 0) == name.endswith("bias")


def test_bernoulli_bracket_equals_monte_carlo_expectation():
    g = torch.Generator().manual_seed(3)
    theta, w = torch.randn(50, generator=g), torch.randn(50, generator=g)
    pi = torch.rand(50, generator=g)
    z = (torch.rand(200_000, 50, generator=g) < pi).to(theta.dtype)  # z ~ Bernoulli(pi)
    monte_carlo = ((theta - w * z) ** 2).mean(dim=0)
    torch.testing.assert_close(bernoulli_bracket(theta, w, pi), monte_carlo, rtol=0.02, atol=0.02)


def test_pmmp_gradients_and_updates_follow_the_lagrangian():
    model = tiny_model(2)
    hook = PMMP(alpha=0.5, u0=0.0, lr=0.01, u_lr=0.1)
    hook.init_companions(model)
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():  # move away from the initial point w = theta, pi = 1, u = 0
        for name in hook.w:
            hook.w[name].add_(torch.randn(hook.w[name].shape, generator=g))
            hook.pi[name].copy_(torch.rand(hook.pi[name].shape, generator=g))
            hook.u[name].copy_(torch.rand(hook.u[name].shape, generator=g))
    params = dict(model.named_parameters())
    before_u = {k: v.detach().clone() for k, v in hook.u.items()}
    penalty = hook.penalty(model)
    penalty.backward()
    for name, p in params.items():
        w, pi, u = hook.w[name].detach(), hook.pi[name].detach(), hook.u[name].detach()
        # d/dtheta u (theta - w pi)^2 ; d/dpi: alpha + u (w^2 - 2 w theta) (the bracket is linear in pi)
        torch.testing.assert_close(p.grad, 2 * u * (p.detach() - w * pi))
        torch.testing.assert_close(hook.pi[name].grad, 0.5 + u * (w**2 - 2 * w * p.detach()))
    brackets = {
        n: bernoulli_bracket(params[n].detach(), hook.w[n].detach(), hook.pi[n].detach())
        for n in params
    }
    hook.before_step(model, None)
    hook.after_step(model, None)
    for name in params:  # ascent on u by exactly u_lr * bracket; pi clipped into [0, 1]
        torch.testing.assert_close(hook.u[name].detach(), before_u[name] + 0.1 * brackets[name])
        pi = hook.pi[name].detach()
        assert float(pi.min()) >= 0.0 and float(pi.max()) <= 1.0
        assert hook.w[name].grad is None and hook.u[name].grad is None


def test_pmmp_starts_from_theta_with_certain_keep_probabilities():
    model = tiny_model()
    hook = PMMP(alpha=1.0, u0=0.25)
    hook.on_phase_start(model, None)
    for name, p in model.named_parameters():
        torch.testing.assert_close(hook.w[name].detach(), p.detach())
        assert torch.all(hook.pi[name] == 1) and torch.all(hook.u[name] == 0.25)
    # at the start the constraint holds exactly: the penalty is alpha * (number of weights)
    n = sum(p.numel() for p in model.parameters())
    assert float(hook.value(model).detach()) == pytest.approx(n)
    assert hook.decided_fraction() == 1.0


def test_relaxed_regulariser_drops_the_sparsity_term():
    assert RL1(alpha=1.0).relaxed() is None
    relaxed = RL1(alpha=1.0, rho=0.1).relaxed()
    assert isinstance(relaxed, Ridge) and relaxed.alpha == 0.0 and relaxed.rho == 0.1
    assert DRR(alpha=1.0).relaxed() is None and PMMP(alpha=1.0).relaxed() is None


def test_regularisers_are_registered_by_name_and_build_their_hooks():
    assert {"rl1", "drr", "pmmp"} <= set(REGULARISERS.names())
    hook = REGULARISERS.create("pmmp", alpha=0.1, pmmp_lr=0.01).build()
    assert isinstance(hook, PMMP) and hook.alpha == 0.1 and hook.lr == 0.01


def test_mask_hook_keeps_pruned_weights_exactly_zero_under_adam_momentum():
    model = tiny_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    x, y = torch.randn(16, 4), torch.randn(16, 3)
    for _ in range(3):  # build up Adam moments for every weight
        optimizer.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()
    masks = {name: torch.rand(p.shape) > 0.5 for name, p in model.named_parameters()}
    hook = MaskHook(masks)
    hook.on_phase_start(model, optimizer)
    for _ in range(5):
        optimizer.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        hook.before_step(model, optimizer)
        for name, p in model.named_parameters():
            assert torch.all(p.grad[~masks[name]] == 0)
        optimizer.step()
        hook.after_step(model, optimizer)
    for name, p in model.named_parameters():
        assert torch.all(p[~masks[name]] == 0)
        assert torch.all(p[masks[name]] != 0)


def test_plateau_rule_stops_on_a_plateau():
    rule = PlateauStop(patience=4, min_relative_improvement=1e-3, smoothing=0.5)
    rng = np.random.default_rng(0)
    losses = [2.0 * 0.8**k for k in range(10)] + [
        0.2 + 1e-5 * rng.standard_normal() for _ in range(40)
    ]
    stopped_at = next(k for k, v in enumerate(losses) if rule.update(100 * (k + 1), v))
    # the curve is flat from measurement 10 on; smoothing needs a few more to settle
    assert 10 <= stopped_at <= 25
    assert rule.describe()["best_smoothed_loss"] == pytest.approx(0.2, rel=0.05)


def test_plateau_rule_keeps_going_while_the_loss_falls_steadily():
    rule = PlateauStop(patience=3, min_relative_improvement=1e-3, smoothing=0.7)
    rng = np.random.default_rng(1)
    # 1% less per measurement, with noise far above the relative threshold
    losses = [math.exp(-0.01 * k) * (1 + 0.005 * rng.standard_normal()) for k in range(300)]
    assert not any(rule.update(k, v) for k, v in enumerate(losses))


def test_plateau_rule_stops_at_once_on_divergence():
    rule = PlateauStop(patience=100)
    assert not rule.update(1, 1.0)
    assert rule.update(2, float("nan")) and rule.describe()["diverged"]


def test_pmmp_stop_waits_for_decided_probabilities():
    model = tiny_model()
    hook = PMMP(alpha=1.0)
    hook.init_companions(model)
    rule = SettledStop(PlateauStop(patience=1, min_relative_improvement=0.0), hook, fraction=0.9)
    with torch.no_grad():
        for pi in hook.pi.values():
            pi.fill_(0.5)  # undecided
    assert not rule.update(1, 1.0)
    assert not rule.update(2, 1.0)  # plateau reached, probabilities not settled
    with torch.no_grad():
        for pi in hook.pi.values():
            pi.fill_(0.0)
    assert rule.update(3, 1.0)
