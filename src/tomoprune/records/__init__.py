"""Run records: one directory per run, written atomically, readable without the model.

``records.writer`` writes a run directory while the loop runs; ``records.load_run`` reads it
back (the one reader every command uses).
"""

from tomoprune.records.reader import RunRecord, load_run

__all__ = ["RunRecord", "load_run"]
