"""The ``long_lines`` stage: the worked example of docs/architecture.md ("how to add a stage")."""

from __future__ import annotations

import pyarrow as pa
import pytest

from corpusmill_base.errors import ConfigError
from filters.long_lines import LongLines
from filters.registry import stage_class


def test_drops_documents_with_a_line_over_the_limit():
    batch = pa.RecordBatch.from_pydict({"text": ["short\nlines", "x" * 30, "ok\n" + "y" * 10]})
    res = LongLines({"max_line_chars": 10}).process(batch)
    assert res.keep.tolist() == [True, False, True]
    assert res.reasons == [None, "line_too_long", None]
    assert res.columns["max_line_chars"].to_pylist() == [5, 30, 10]
    assert (res.scores[1], res.thresholds[1]) == (30.0, 10.0)  # the ledger's score and threshold


def test_registered_with_typed_options():
    assert stage_class("long_lines") is LongLines
    assert LongLines().describe()["options"] == {"max_line_chars": 20_000}
    with pytest.raises(ConfigError, match="unknown option 'max_chars'"):
        LongLines({"max_chars": 5})
