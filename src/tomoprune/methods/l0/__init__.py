"""The l0 family: sparsity regularisers and what turns their output into a sparse network.

- ``base``, ``rl1``, ``drr``, ``pmmp``: regularisers, all ``TrainingHook``s, registered by name
  in ``REGULARISER_REGISTRY``;
- ``plateau``: the smoothed plateau stop rule for plateau-terminated phases;
- ``tamade``: the largest magnitude threshold within a relative validation-loss budget;
- ``gradient_pruning``: zeroing parameters cut off from the output, deleting dead units;
- ``masks``: masked fine-tuning;
- ``sparse_export``: honest storage numbers and a CSR export file;
- ``method``: the methods ``rl1``, ``drr``, ``pmmp`` and the unregularised baseline
  ``dense`` of the train-compress loop.
"""
