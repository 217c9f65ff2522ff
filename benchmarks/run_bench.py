"""Run the benchmark suite (the same as `dynax bench`): python benchmarks/run_bench.py [--quick] [-o FILE]."""

import sys

from dynax.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
