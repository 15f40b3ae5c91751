"""The training loop's pieces against PyTorch's own implementations."""

import torch
import torch.nn.functional as F

from tomoprune.engine.train import class_cross_entropy, evaluate, make_criterion


def test_class_cross_entropy_matches_torch_loss_and_gradient():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(512, 10, generator=g, requires_grad=True)
    target = torch.randint(0, 10, (512,), generator=g)
    ours = class_cross_entropy(logits, target)
    (ours_grad,) = torch.autograd.grad(ours, logits)
    theirs = F.cross_entropy(logits, target)
    (their_grad,) = torch.autograd.grad(theirs, logits)
    torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(ours_grad, their_grad, rtol=1e-6, atol=1e-8)


def test_reference_criterion_applies_log_softmax_over_the_batch_first():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(8, 3, generator=g)
    target = torch.randint(0, 3, (8,), generator=g)
    expected = F.cross_entropy(F.log_softmax(logits, dim=0), target)
    torch.testing.assert_close(make_criterion("classification", "batch")(logits, target), expected)


def test_batch_mean_accuracy_overweights_the_short_last_batch():
    # 3 samples, batches of 2: first batch all wrong, last (single) sample right
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(2, 2, bias=False))
    with torch.no_grad():
        model[1].weight.copy_(torch.eye(2))
    x = torch.tensor([[0.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
    y = torch.tensor([0, 0, 0])
    batch_mean = evaluate(
        model, x, y, kind="classification", batch_size=2, accuracy_mode="batch_mean"
    ).accuracy
    weighted = evaluate(model, x, y, kind="classification", batch_size=2).accuracy
    assert batch_mean == 0.5 and abs(weighted - 1 / 3) < 1e-12
