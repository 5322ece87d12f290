"""The one date contracts are checked against."""

from __future__ import annotations

import datetime as dt


def contract_date() -> dt.date:
    """The date a contract's ``expires`` is checked against, the same for ``run``, ``tokenize`` and
    ``mix``: UTC's. The run used the local date and tokenize and mix UTC's, so at UTC+9 between
    00:00 and 09:00 the run refused a contract the other two still took (review, session 13)."""
    return dt.datetime.now(dt.UTC).date()
