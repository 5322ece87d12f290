"""Argument types for the CLI's numbers: range-checked at parse time, one line on a bad value.

Found by trying odd values on every numeric option (session 11): ``--vocab-size`` past 64 bits and
``quality train --bucket`` past fastText's ``int`` ended in tracebacks (``OverflowError``, a pybind
``TypeError``), ``--lr nan`` in fastText's ``RuntimeError``, and ``--heldout -5``, ``--epoch 0``,
``--dim 0``, ``--sample-chars 0`` or ``pull --workers 0`` were taken as given. argparse prints
``argument --dim: must be an integer from 1 to 2147483647 (got '0')`` and exits with 2.

>>> integer(1)("7")
7
>>> number(0, 1)("0.25")
0.25
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

from corpusmill_base.numbers import INT64_MAX

INT32_MAX = 2**31 - 1  # fastText's arguments are C ints; token ids are int32 at most


def file_out(path: str, option: str = "--out") -> None:
    """Refuse an output path that is a directory before any work (``quality train --out DIR``
    trained for minutes, then failed renaming into it, naming its temporary file)."""
    import os

    from corpusmill_base.errors import OutputError

    if os.path.isdir(path):
        raise OutputError(f"{option} {path} is a directory; name the file to write")


def dir_out(path: str, holds: str, option: str = "--out") -> None:
    """Refuse an output folder that is a file or lies under one, before any work (``report --out
    FILE`` said only "File exists (FILE)", ``run --out FILE`` passed ``--dry-run`` and then failed
    with "Not a directory")."""
    from pathlib import Path

    from corpusmill_base.atomic import file_in_the_way
    from corpusmill_base.errors import OutputError

    where = file_in_the_way(Path(path))
    if where is not None:
        raise OutputError(f"{option} {path} {where}; name a folder (it will hold {holds})")


def integer(least: int, most: int = INT64_MAX) -> Callable[[str], int]:
    """An integer from ``least`` to ``most`` (inclusive)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not least <= value <= most:
            raise argparse.ArgumentTypeError(f"must be an integer from {least} to {most} (got {text!r})")
        return value

    parse.__name__ = "integer"  # argparse names the type in "invalid <name> value" messages
    return parse


def number(low: float, high: float = math.inf, *, open_low: bool = True, open_high: bool = False) -> Callable[[str], float]:
    """A finite number in the range (``low``, ``high``]; ``open_low``/``open_high`` say which ends are left out."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        above = value > low if open_low else value >= low
        below = value < high if open_high else value <= high
        if not (math.isfinite(value) and above and below):
            lo, hi = ("(" if open_low else "["), (")" if open_high or math.isinf(high) else "]")
            raise argparse.ArgumentTypeError(f"must be a finite number in {lo}{low:g}, {high:g}{hi} (got {text!r})")
        return value

    parse.__name__ = "number"
    return parse
