"""w2s: weak-to-strong knowledge transfer between language models."""

__version__ = "0.1.0"
