"""`python -m bench ...`: the benchmarks, run from a checkout."""

import sys

from bench.cli import main

sys.exit(main())
