"""`python -m starter.cli`: the `recovery` command."""

import sys

from starter.cli import main

if __name__ == "__main__":  # not when a worker process of `policy simulate` imports this module
    sys.exit(main())
