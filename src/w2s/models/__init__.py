"""Model sources: turn a name (hub id, folder, .gguf file, offline pack) into a loadable folder."""

from w2s.models.packs import PACKS, OfflinePack
from w2s.models.sources import ModelSource, resolve_model

__all__ = ["PACKS", "OfflinePack", "ModelSource", "resolve_model"]
