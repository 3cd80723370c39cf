"""Where w2s keeps things it builds once and reuses: converted models, the response cache."""

from __future__ import annotations

import os
from pathlib import Path


def w2s_home() -> Path:
    """`$W2S_HOME`, else `$XDG_CACHE_HOME/w2s`, else `~/.cache/w2s`."""
    if os.environ.get("W2S_HOME"):
        return Path(os.environ["W2S_HOME"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "w2s"


def default_cache_path() -> Path:
    """The response cache shared by every command unless `--cache` says otherwise."""
    return w2s_home() / "responses.sqlite"
