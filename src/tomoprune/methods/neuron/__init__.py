"""Structured unit pruning in train-compress cycles: DTC, magnitude and random pruning.

- ``method``: the ``NeuronPruning`` method, its parameters and keep rules, registered as
  ``dtc``, ``magnitude`` and ``random``;
- ``scoring``: one scorer per file, a settings object registered by name in ``SCORERS``.
"""
