"""The l0 family: sparsity regularisers and what turns their output into a sparse network.

- ``settings``: the regularisers' settings objects, each registered once in ``REGULARISERS``,
  the schedule around them and the methods' registrations (no torch);
- ``base``, ``rl1``, ``drr``, ``pmmp``: the regularisers' training hooks (what ``build()``
  makes; ``regularise`` hands one to your own training loop);
- ``plateau``: the smoothed plateau stop rule for plateau-terminated phases;
- ``tamade``: the largest magnitude threshold within a relative validation-loss budget;
- ``gradient_pruning``: zeroing parameters cut off from the output, deleting dead units;
- ``masks``: masked fine-tuning;
- ``sparse_export``: honest storage numbers and a CSR export file;
- ``method``: the methods ``rl1``, ``drr``, ``pmmp`` and the unregularised baseline
  ``dense`` of the train-compress loop.
"""

from tomoprune.methods.l0 import settings  # noqa: E402, F401  (register the built-ins, no torch)
