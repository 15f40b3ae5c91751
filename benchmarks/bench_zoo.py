"""``make bench-full`` entry of the model zoo (``benchmarks.zoo``: hours on 2 cores; resumable)."""

from __future__ import annotations

from benchmarks.zoo import main

if __name__ == "__main__":
    raise SystemExit(main())
