"""Optional dependencies: import one, or say in one line which extra installs it.

The core library needs only torch and the scientific stack; solvers (``cs``), ONNX export
(``onnx``), the online codec (``mdl``), Ray (``ray``), torchvision (``vision``) and Hugging Face
transformers (``hf``) are extras (``pip install 'tomoprune[cs]'``), imported when used.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from tomoprune.errors import TomopruneError


class MissingExtra(TomopruneError):
    """A feature's optional dependency is not installed."""

    exit_code = 1


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """``import module``, or raise ``MissingExtra`` naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtra(
            f"{purpose} needs the optional package {module.split('.')[0]!r} ({exc}); install it "
            f"with: pip install 'tomoprune[{extra}]'."
        ) from None
