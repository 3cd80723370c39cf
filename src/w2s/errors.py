"""The one exception type users see.

Anything raised as `W2SError` is printed by the CLI as a single line (no traceback): it must
say which file/line/field was wrong and what was expected. Everything else is a bug and keeps
its traceback.
"""


class W2SError(Exception):
    """A user-facing error: bad input, missing dependency, unreachable model or data."""


_SECRET_PATTERNS = [
    r"(?<![A-Za-z0-9])sk-[A-Za-z0-9_\-]{8,}",  # OpenAI-style keys (not the "sk-" inside "task-list")
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
        forms.add(f"&#0*{ord(char)};")  # HTML numeric entities, decimal and hex
        forms.add(f"&#[xX]0*{hex_any_case(f'{ord(char):x}')};")
        if char in _HTML_NAMES:
            forms.add(re.escape(_HTML_NAMES[char]))
        if char == " ":
            forms.add(re.escape("+"))
        return "(?:" + "|".join(sorted(forms)) + ")"

    return "".join(one(c) for c in secret)


_HTML_NAMES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;", "/": "&sol;", "+": "&plus;",
               "=": "&equals;"}


def _base64_forms(secret: str) -> list[str]:
    """The secret as it appears inside base64 text (standard and URL-safe), at each of the three
    byte alignments: only the characters fully determined by the secret's own bytes."""
    import base64

    raw, forms = secret.encode(), []
    for k in range(3):
        encoded = base64.b64encode(b"\0" * k + raw).decode().rstrip("=")
        first, end = -(-8 * k // 6), (8 * k + 8 * len(raw)) // 6
        core = encoded[first:end]
        if len(core) >= 8:
            forms += [core, core.replace("+", "-").replace("/", "_")]
    return forms


_KNOWN: set[str] = set()  # every key this process has read from the environment


def secret_from_env(name: str | None) -> str | None:
    """The value of environment variable `name`, remembered as a secret: from then on every text
    w2s prints, logs, serves or writes to a file (`redact`, `w2s.jsonl.write_atomic`) has it
    replaced by ***. Every key w2s uses is read through here: one list of the keys in play."""
    import os

    value = os.environ.get(name) if name else None
    if value and len(value) >= 4:
        _KNOWN.add(value)
    return value


def redact_data(text: str) -> str:
    """`text` without any key in play (in any encoding) nor a long `sk-…` key. For files: unlike
    `redact` it leaves `token: 5`, "bearer bonds" and "ask-questions" alone (a model's answer may
    say them), so only what is certainly a credential is touched."""
    for secret in _KNOWN:
        text = _known_pattern(secret).sub("***", text)
        for form in _base64_forms(secret):
            text = text.replace(form, "***")
    return _data_key().sub("***", text)


_DATA_KEY_TEXT = r"(?<![A-Za-z0-9])sk-[A-Za-z0-9_\-]{20,}"  # in files: only what is surely a key (real ones are long)


def _data_key():
    import re

    return re.compile(_DATA_KEY_TEXT)  # re caches compiled patterns itself


def _known_pattern(secret: str):
    import re

    if secret not in _COMPILED:
        _COMPILED[secret] = re.compile(_any_encoding(secret))
    return _COMPILED[secret]


_COMPILED: dict = {}


def redact(text: str, *secrets: str | None, limit: int | None = None) -> str:
    """`text` with the given secrets and anything that looks like a credential replaced by ***,
    then cut to `limit` characters.

    Every message w2s prints or writes about a remote server goes through this: servers echo
    keys in their error bodies (a 401 often repeats the key it refused), in any encoding a server
    may use: as is, JSON-escaped (`/` as `\\/`, non-ASCII as `\\uXXXX`), URL-encoded, as HTML
    entities (`&#x2F;`, `&sol;`) or inside base64 (a Basic-auth header echoed back). The whole
    text is redacted before it is cut, so a key that straddles the cut cannot leave its first part.
    """
    import re

    for secret in {*_KNOWN, *(s for s in secrets if s and len(s) >= 4)}:
        text = _known_pattern(secret).sub("***", text)
        for form in _base64_forms(secret):
            text = text.replace(form, "***")
    for pattern in _SECRET_PATTERNS:
        text = re.sub(pattern, lambda m: f"{m.group(1)}{m.group(2)}***" if m.lastindex else "***", text)
    return text if limit is None or len(text) <= limit else text[:limit] + "…"
