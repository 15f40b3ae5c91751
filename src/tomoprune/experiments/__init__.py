"""Experiments that go beyond one run: each builds its tasks and runs them through the one
train-compress loop (``engine.compress.CompressionLoop``), then tabulates the records."""
