"""`python -m natsync`: the natsync command line (see docs/cli.md)."""

import sys

from .cli.main import main

if __name__ == "__main__":
    sys.exit(main())
