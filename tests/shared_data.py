"""Where the CEO's shared files are: ``../shared`` beside the repository (as in CI), or ``$COSTMUX_SHARED_DIR``."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("COSTMUX_SHARED_DIR") or REPO.parent / "shared")
CAPTURES = SHARED / "notes" / "litellm-captures"


def capture_text(name: str) -> str:
    """A raw ``curl -i`` capture of the real proxy; fails with a clear message when shared/ is missing."""
    path = CAPTURES / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: put shared/ beside the repository or set COSTMUX_SHARED_DIR")
    return path.read_text()
