"""Safe display of untrusted text (catalog data: review comments, reviewer names, provenance).

A review comment with ANSI escapes and newlines, printed raw by ``review history``, could paint
"approved" over a revocation. Everything printed from catalog data goes through
:func:`printable`, which escapes control characters visibly instead of interpreting them.

>>> printable("ok\\x1b[32m approved\\nline")
'ok\\\\x1b[32m approved\\\\nline'
"""

from __future__ import annotations

import re
from typing import Any

# C0 and C1 controls, DEL, and the bidirectional overrides/isolates (which reorder what follows).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(m: re.Match[str]) -> str:
    c = m.group(0)
    return _NAMED.get(c) or (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")


def printable(value: Any) -> str:
    """``str(value)`` with every control character shown as an escape (``\\x1b``, ``\\n``)."""
    return _CONTROL.sub(_escape, "" if value is None else str(value))


def printable_lines(value: Any) -> str:
    """:func:`printable`, but newlines kept: for our own multi-line messages (an invalid config
    lists one key per line) that may quote user values — a NUL or an ANSI escape in a path."""
    return "\n".join(printable(line) for line in ("" if value is None else str(value)).split("\n"))
