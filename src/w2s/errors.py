"""The one exception type users see.

Anything raised as `W2SError` is printed by the CLI as a single line (no traceback): it must
say which file/line/field was wrong and what was expected. Everything else is a bug and keeps
its traceback.
"""


class W2SError(Exception):
    """A user-facing error: bad input, missing dependency, unreachable model or data."""
