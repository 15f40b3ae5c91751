"""A saved compressed model reloads onto modules that check their version on load."""

from __future__ import annotations

import torch
from torch import nn


class _Versioned(nn.Linear):
    """A layer that, like torchvision's MNASNet, refuses a state dict without its version."""

    _version = 2

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, *args):
        if local_metadata.get("version") != 2:
            raise ValueError(f"version should be 2, not {local_metadata.get('version')}")
        super()._load_from_state_dict(state_dict, prefix, local_metadata, *args)


def test_saved_model_with_versioned_modules_reloads_exactly(tmp_path):
    from tomoprune import Compressor, Schedule
    from tomoprune.api import load_compressed

    def build():
        torch.manual_seed(0)
        return nn.Sequential(_Versioned(6, 8), nn.ReLU(), nn.Linear(8, 3)).eval()

    x = torch.randn(5, 6, generator=torch.Generator().manual_seed(1))
    compressor = Compressor(
        build(), x[:1], scorer="magnitude", schedule=Schedule(fraction=0.5, min_width=1)
    )
    compressor.step()
    compressor.save(tmp_path)
    reloaded = load_compressed(build(), x[:1], tmp_path).eval()
    with torch.no_grad():
        assert torch.equal(reloaded(x), compressor.model.eval()(x))
