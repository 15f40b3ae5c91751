"""Datasets: reading and validating IDX files, finding them, downloading them, loading them.

Modules: ``idx`` (pure IDX reader), ``catalog`` (file names, checksums, mirrors, statistics),
``locate`` (search order), ``checksums`` (verification), ``download`` (mirrors),
``datasets`` (normalised tensors, the ``DATASETS`` registry, the train/validation split).
"""

from tomoprune.data.datasets import (
    DATASETS,
    Dataset,
    TrainValidationSplit,
    load_dataset,
    train_validation_split,
)

__all__ = ["DATASETS", "Dataset", "TrainValidationSplit", "load_dataset", "train_validation_split"]
