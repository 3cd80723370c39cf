"""The one exception type users see.

Anything raised as `W2SError` is printed by the CLI as a single line (no traceback): it must
say which file/line/field was wrong and what was expected. Everything else is a bug and keeps
its traceback.
"""


class W2SError(Exception):
    """A user-facing error: bad input, missing dependency, unreachable model or data."""


_SECRET_PATTERNS = [
    r"sk-[A-Za-z0-9_\-]{8,}",  # OpenAI-style keys
    r"(?i)bearer\s+[A-Za-z0-9._\-]{8,}",
    r"(?i)(api[-_]?key|token|secret|password)([\"']?\s*[:=]\s*[\"']?)[^\s\"'&,}]+",
]


def redact(text: str, *secrets: str | None) -> str:
    """`text` with the given secrets and anything that looks like a credential replaced by ***.

    Every message w2s prints or writes about a remote server goes through this: servers echo
    keys in their error bodies (a 401 often repeats the key it refused).
    """
    import re

    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    for pattern in _SECRET_PATTERNS:
        text = re.sub(pattern, lambda m: f"{m.group(1)}{m.group(2)}***" if m.lastindex else "***", text)
    return text
