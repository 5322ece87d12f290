"""corpusmill_base.arrowio: Arrow formats read without Python objects behind Arrow's buffers.

pyarrow 25 can abort a process at interpreter exit when one of its pool threads drops the last
reference to a Python-owned buffer after finalization began (apache/arrow#34314;
docs/reliability.md "Exit at the end of a command"). The CLI never finalises (``_leave``), but a
trainer or notebook that calls our loaders does, so every read of Parquet or JSON from Python
memory goes through ``arrowio``, and a scan of the packages keeps it that way.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import fsspec
import pyarrow as pa
import pyarrow.json as pj
import pyarrow.parquet as pq
import pytest

from corpusmill_base import arrowio
from tests.conftest import ROOT


def _table(n: int = 300) -> pa.Table:
    return pa.table({"id": [f"d{i}" for i in range(n)], "stage": ["exact@1"] * n, "n": list(range(n))})


def _parquet(n: int = 300) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(_table(n), sink, row_group_size=64)
    return sink.getvalue().to_pybytes()


def test_owned_buffers_hold_no_reference_to_the_python_bytes():
    data = _parquet()
    before = sys.getrefcount(data)
    held = pa.py_buffer(data)  # what io.BytesIO / py_buffer readers hand Arrow: a PyBuffer holding the bytes
    assert sys.getrefcount(data) == before + 1
    del held
    buf = arrowio.owned(data)
    assert sys.getrefcount(data) == before and buf.to_pybytes() == data
    table = arrowio.read_parquet(data)
    batches = list(arrowio.parquet_file(data).iter_batches(batch_size=50))
    assert sys.getrefcount(data) == before and table.num_rows == 300 and len(batches) == 6


def test_the_readers_give_what_pyarrow_gives():
    data = _parquet()
    assert arrowio.read_parquet(data).equals(pq.read_table(io.BytesIO(data)))
    assert arrowio.read_parquet(data, columns=["n"]).equals(pq.read_table(io.BytesIO(data), columns=["n"]))
    pf = arrowio.parquet_file(memoryview(data))
    assert pf.metadata.num_row_groups == 5 and pf.schema_arrow == _table().schema
    lines = b"".join(b'{"id": "d%d", "n": %d}\n' % (i, i) for i in range(100))
    opts = pj.ParseOptions(explicit_schema=pa.schema([("id", pa.string()), ("n", pa.int64())]))
    assert arrowio.read_json(lines, parse_options=opts).equals(pj.read_json(io.BytesIO(lines), parse_options=opts))


def test_open_input_maps_local_files_and_copies_the_others(tmp_path):
    data = _parquet()
    (tmp_path / "a.parquet").write_bytes(data)
    with arrowio.open_input(fsspec.filesystem("file"), str(tmp_path / "a.parquet")) as f:
        assert isinstance(f, pa.MemoryMappedFile)
        assert pq.read_table(f).equals(_table())
    mem = fsspec.filesystem("memory")
    mem.pipe("/arrowio-test/a.parquet", data)
    try:
        with arrowio.open_input(mem, "/arrowio-test/a.parquet") as f:
            assert isinstance(f, pa.BufferReader)
            assert pq.read_table(f).equals(_table())
    finally:
        mem.rm("/arrowio-test", recursive=True)


# A read of Parquet / JSON / IPC whose argument is Python memory (BytesIO, py_buffer), or a file
# object an fsspec filesystem opened (read through Python on Arrow's threads).
_PYTHON_MEMORY = re.compile(
    r"\b(read_table|ParquetFile|read_json|open_json|read_csv|open_csv|dataset|open_file|open_stream|read_feather)"
    r"\(\s*(io\.BytesIO|pa\.py_buffer|pa\.BufferReader\(\s*pa\.py_buffer)")
_FSSPEC_FILE = re.compile(r"with [^\n]*\bopen\([^\n]*\) as (\w+):\n(?:[^\n]*\n){0,3}?[^\n]*\b(?:read_table|ParquetFile|read_json)\(\1\b")
_BUFFER_READER = re.compile(r"\bBufferReader\(")


def test_no_module_reads_arrow_formats_from_python_memory():
    offenders = []
    for package in ("corpusmill_base", "filters", "manifests", "pipelines"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.name == "arrowio.py":
                continue
            text = path.read_text(encoding="utf-8")
            for pattern in (_PYTHON_MEMORY, _FSSPEC_FILE, _BUFFER_READER):
                offenders += [f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, m.start()) + 1}" for m in pattern.finditer(text)]
    assert offenders == [], "read these through corpusmill_base.arrowio: " + ", ".join(offenders)


def test_the_scan_finds_what_it_forbids():
    assert _PYTHON_MEMORY.search("t = pq.read_table(io.BytesIO(data), columns=['x'])")
    assert _PYTHON_MEMORY.search("pf = pq.ParquetFile(pa.py_buffer(data))")
    assert _FSSPEC_FILE.search('    with cat.fs.open(p, "rb") as f:\n        return pq.read_table(f)\n')
    assert _FSSPEC_FILE.search('        with fsspec.open(url, "rb") as f:\n            table = pq.read_table(f)\n')
    assert _FSSPEC_FILE.search('    with open(path, "rb") as fh:\n        pf = pq.ParquetFile(fh)\n')
    assert _BUFFER_READER.search("pq.read_table(pa.BufferReader(data))")
    assert not _FSSPEC_FILE.search('    with arrowio.open_input(cat.fs, p) as f:\n        return pq.read_table(f)\n')


# docs/reliability.md's reproduction, reading through arrowio and ending with plain sys.exit:
# a trainer's or a notebook's process, which does not leave through the CLI's _leave.
REPRO = """
import sys
import pyarrow as pa, pyarrow.parquet as pq
from corpusmill_base import arrowio
sink = pa.BufferOutputStream()
pq.write_table(pa.table({"id": [f"d{i}" for i in range(300)], "stage": ["exact@1"] * 300, "n": list(range(300))}), sink)
table = arrowio.read_parquet(sink.getvalue().to_pybytes())
sys.exit(2)
"""
RUNS = 450


@pytest.mark.full  # 450 runs: too long for the default suite (make test-full)
def test_reading_through_arrowio_then_finalising_never_aborts(tmp_path):
    """The same script reading ``io.BytesIO`` aborted 59 of 450 runs (tests/test_exit_abort.py;
    docs/reliability.md), so a regression fails this almost surely."""
    script = tmp_path / "repro.py"
    script.write_text(REPRO)

    def one(_: int) -> int:
        return subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True, timeout=300).returncode

    with ThreadPoolExecutor(2) as ex:
        codes = list(ex.map(one, range(RUNS)))
    assert codes == [2] * RUNS, {c: codes.count(c) for c in set(codes)}
