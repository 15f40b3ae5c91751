"""The record format: file names and columns of a run directory.

A run directory holds::

    config.json        full resolved config, seeds, package versions, git commit, status
    cycles.csv         one row per train-compress cycle (columns: CYCLE_COLUMNS + method extras)
    phases.csv         one row per training phase (steps, mean loss, why it stopped, seconds)
    summary.json       final width, accuracy, compression and timings once the run finished,
                       with parameters, FLOPs and latency before and after (accounting.py)
    accounting.json    {"before": ..., "after": ...}: the totals and per-module breakdowns of
                       parameters, FLOPs per sample and measured latency of the initial and the
                       final model (``tomoprune.accounting.Accounting``)
    measurements.json  DTC only: per cycle, both measurement vectors and both recovered
                       coefficient vectors (see MEASUREMENTS_LAYOUT)
    model.safetensors  the final model; ``model.json`` beside it gives its architecture
    removal.json       kept units of every unit group relative to the initial model, and the
                       built-in architecture: the model rebuilt without pickle
                       (``tomoprune.load_run_model``; format in ``structure.saved``)
    checkpoint/        state after the last finished cycle, used by ``run --resume``

``width`` in cycles.csv is the width *after* that cycle's pruning; ``sparsity`` is
``1 - width / initial_width``; ``test_accuracy`` is measured on the pruned model before any
further training.
"""

from __future__ import annotations

CONFIG_FILE = "config.json"
CYCLES_FILE = "cycles.csv"
MEASUREMENTS_FILE = "measurements.json"
MODEL_FILE = "model.safetensors"
MODEL_SPEC_FILE = "model.json"
CHECKPOINT_DIR = "checkpoint"
SUMMARY_FILE = "summary.json"
ACCOUNTING_FILE = "accounting.json"
PHASES_FILE = "phases.csv"

# Columns every method writes, in this order; methods may append their own after these.
CYCLE_COLUMNS = (
    "cycle",
    "width",
    "sparsity",
    "parameters",
    "nonzero_parameters",
    "test_accuracy",
    "test_loss",
    "train_loss",
    "train_steps",
    "train_seconds",
    "prune_seconds",
    "solver_objective",
)

# columns measured with a clock (they differ between two runs of the same command; everything
# else in cycles.csv is reproducible on the same machine)
WALL_CLOCK_COLUMNS = ("train_seconds", "prune_seconds", "latency_b1_s", "latency_b256_s")

# measurements.json (written only by methods that measure; DTC's layout):
# {
#   "layers": ["previous_layer", "next_layer"],   # the measured vectors' names, as the method
#                                                 # wrote them (DTC: methods.neuron.scoring.dtc)
#   "cycles": [
#     {"cycle": 1, "width_before": 512, "n_measurements": 51,
#      "measurements": {"previous_layer": [...n floats], "next_layer": [...n floats]},
#      "coefficients": {"previous_layer": [...m floats], "next_layer": [...m floats]},
#      "scores": [...m floats],              # the weight ray: sum of both coefficient vectors
#      "solver": {"previous_layer": {...}, "next_layer": {...}}   # objective, status, ...
#     }, ...
#   ]
# }
# DTC's "previous_layer" is the incoming sum a_in[j] = sum_i W1[j, i]; "next_layer" the outgoing
# sum a_out[j] = sum_k W2[k, j] (the paper's names). The schema names no layers itself.
