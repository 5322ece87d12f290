"""atheris fuzz target for every reader and for text normalisation.

Run: ``python tests/fuzz/fuzz_readers.py -max_total_time=60`` (CI runs it for a bounded time
through tests/test_fuzz.py). The first input byte picks the reader; the rest is the file.
Any exception escaping a reader is a bug: readers must turn bad bytes into quarantine events.
"""

from __future__ import annotations

import hashlib
import io
import sys

import atheris

# Only our own packages are instrumented: with numpy, pydantic, pyarrow and the standard library
# modules the readers import instrumented too (~130 modules), start-up alone took ~15 CPU-s, more
# than the test's fuzzing; coverage feedback from inside them does not steer inputs to our paths.
with atheris.instrument_imports(include=["filters", "corpusmill_base"]):
    from filters.normalize import normalize_text
    from filters.readers import Dropped, FileInfo, Quarantined, ReadOptions, Record, read_file

OPTIONS = [
    ReadOptions(format="jsonl", max_record_bytes=4096),
    ReadOptions(format="json", record_path="data[].paragraphs[]", text_fields=("context",)),
    ReadOptions(format="json"),
    ReadOptions(format="csv", text_fields=("Q", "A")),
    ReadOptions(format="tsv", header=False, columns=("label", "text")),
    ReadOptions(format="txt", split="line"),
    ReadOptions(format="txt", split="blank_line", max_record_bytes=4096),
    ReadOptions(format="txt", split="heading", heading_pattern=r"^ = [^=].* = $"),
    ReadOptions(format="txt", split="file", encoding="cp949"),
    ReadOptions(format="pubtator"),
    ReadOptions(format="parquet"),
]


def TestOneInput(data: bytes) -> None:  # noqa: N802 — atheris' name
    if not data:
        return
    opts = OPTIONS[data[0] % len(OPTIONS)]
    body = data[1:]
    info = FileInfo(path="fuzz")
    for event in read_file(io.BytesIO(body), opts, info):
        assert isinstance(event, (Record, Quarantined, Dropped)), event
        if isinstance(event, Record):
            assert isinstance(event.text, str) and event.text.strip()
            assert normalize_text(normalize_text(event.text)) == normalize_text(event.text)
    assert info.sha256 == hashlib.sha256(body).hexdigest()


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
