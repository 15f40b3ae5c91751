"""Sweeps: many runs over seeds, methods and settings, executed in parallel (local process pool
or Ray) into one directory, then aggregated over seeds with confidence intervals.

``spec`` parses and expands a TOML spec, ``execute`` runs one run and the two backends,
``runner`` drives a whole sweep, ``aggregate`` turns a sweep directory into tables, paired
comparisons, sentences and figures.
"""
