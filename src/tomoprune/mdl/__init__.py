"""Dataset compression by description length: a byte transformer fitted to a file, its exported
size, the code length of the file under it, the classical compressors beside it, and a real
compressed file format (``codec``)."""
