"""Post-training compression of any ``nn.Module``: GPTQ, SparseGPT, Wanda, RTN, magnitude and
the randomized greedy compressor, one settings dataclass each, run by one driver::

    from tomoprune.posttraining import GPTQ, compress_
    report = compress_(model, GPTQ(bits=4, group_size=128, act_order=True),
                       calibration=loader, layers=["*.mlp.*"])

See ``docs/guide/post-training.md``.
"""

from tomoprune.posttraining.base import POSTTRAINING, Compressor, LayerProblem, LayerResult
from tomoprune.posttraining.driver import PostTrainingReport, compress_, select_layers
from tomoprune.posttraining.gptq import GPTQ
from tomoprune.posttraining.greedy import Greedy
from tomoprune.posttraining.magnitude import Magnitude
from tomoprune.posttraining.rtn import RTN
from tomoprune.posttraining.sparsegpt import SparseGPT
from tomoprune.posttraining.wanda import Wanda

__all__ = [
    "GPTQ",
    "POSTTRAINING",
    "RTN",
    "Compressor",
    "Greedy",
    "LayerProblem",
    "LayerResult",
    "Magnitude",
    "PostTrainingReport",
    "SparseGPT",
    "Wanda",
    "compress_",
    "select_layers",
]
