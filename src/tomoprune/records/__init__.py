"""Run records: one directory per run, written atomically, readable without the model."""
