"""`python -m starter.cli`: the `recovery` command."""

import sys

from starter.cli import main

sys.exit(main())
