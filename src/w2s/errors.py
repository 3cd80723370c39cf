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


def _any_encoding(secret: str) -> str:
    """A regex for `secret` with each character as is, JSON-escaped (`\\/`, `\\uXXXX`) or
    percent-encoded (`%2F`, `+` for a space), in any mix: how servers echo keys back."""
    import json
    import re

    def one(char: str) -> str:
        def hex_any_case(digits: str) -> str:
            return "".join(f"[{h.upper()}{h.lower()}]" if h.isalpha() else h for h in digits)

        forms = {re.escape(char), re.escape(json.dumps(char)[1:-1]), re.escape("\\" + char)}
        if ord(char) < 0x10000:
            forms.add(re.escape("\\u") + hex_any_case(f"{ord(char):04x}"))
        forms.add("".join("%" + hex_any_case(f"{byte:02x}") for byte in char.encode()))
        if char == " ":
            forms.add(re.escape("+"))
        return "(?:" + "|".join(sorted(forms)) + ")"

    return "".join(one(c) for c in secret)


def redact(text: str, *secrets: str | None, limit: int | None = None) -> str:
    """`text` with the given secrets and anything that looks like a credential replaced by ***,
    then cut to `limit` characters.

    Every message w2s prints or writes about a remote server goes through this: servers echo
    keys in their error bodies (a 401 often repeats the key it refused), in any encoding a server
    may use: as is, JSON-escaped (`/` as `\\/`, non-ASCII as `\\uXXXX`) or URL-encoded. The whole
    text is redacted before it is cut, so a key that straddles the cut cannot leave its first part.
    """
    import re

    for secret in secrets:
        if secret and len(secret) >= 4:
            text = re.sub(_any_encoding(secret), "***", text)
    for pattern in _SECRET_PATTERNS:
        text = re.sub(pattern, lambda m: f"{m.group(1)}{m.group(2)}***" if m.lastindex else "***", text)
    return text if limit is None or len(text) <= limit else text[:limit] + "…"
