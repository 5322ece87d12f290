"""MinHash's release index from the decide's signature file (issue #21: the serial tail).

The decide writes every document's id, order and signature to an Arrow IPC file beside its
Parquet side file; ``release_files`` reads that file's id column and copies out only the kept
rows. The published index must hold exactly the kept documents, in ``order``, with their
signatures — the same bytes the older Parquet side file gave — and a run killed between the
decide and the release must resume to the same output.
"""

from __future__ import annotations

import json
import signal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from filters.base import StageContext
from filters.minhash_dedup import stage as mh
from filters.minhash_dedup.signatures import _matrix
from tests.conftest import ROOT, cli


def _batch(n: int, seed: int = 5) -> pa.RecordBatch:
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(400)]
    texts = [" ".join(rng.choice(words, 60)) for _ in range(n)]
    texts[3] = texts[1] + " tail"  # a near-duplicate pair: one of them is dropped
    return pa.record_batch({
        "id": pa.array([f"d{i:03d}" for i in range(n)]),
        "order": pa.array(np.arange(n, dtype=np.int64)[::-1]),  # decide order is not `order`
        "source_id": pa.array(["s"] * n),
        "text": pa.array(texts),
    })


def test_release_publishes_exactly_the_kept_signatures_and_the_parquet_side_file_is_gone(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    st = mh.MinHashDedup({}, StageContext(workdir=str(work)))
    batch = _batch(40)
    keys = st.keys(batch)
    decisions = st.decide(iter([keys.slice(0, 25), keys.slice(25)]))
    assert decisions.num_rows >= 1  # the near-duplicate

    assert not st._side_path().exists(), "texts and sketches are scratch of the decide only"
    sig_file = st._signature_path()
    assert sig_file.exists() and st._index_path == sig_file
    written = pa.ipc.open_file(pa.memory_map(str(sig_file))).read_all()
    assert written.column_names == list(mh.SIGNATURE_COLUMNS)
    assert written.column("id").to_pylist() == keys.column("id").to_pylist()  # every document, decide order
    assert np.array_equal(_matrix(written.column("signature"), st.opts.num_perm), _matrix(keys.column("signature"), st.opts.num_perm))

    dropped = set(decisions.column("id").to_pylist())
    kept_ids = [i for i in batch.column("id").to_pylist() if i not in dropped][::3]  # later stages drop more
    (entry,) = st.release_files(tmp_path / "out", pa.array(kept_ids))
    index = pq.read_table(tmp_path / "out" / entry["path"])
    by_id = {i: r for r, i in enumerate(keys.column("id").to_pylist())}
    want = sorted(kept_ids, key=lambda i: keys.column("order")[by_id[i]].as_py())
    assert entry["rows"] == index.num_rows == len(want)
    assert index.column("id").to_pylist() == want
    sig = _matrix(keys.column("signature"), st.opts.num_perm)
    assert np.array_equal(np.stack(index.column("signature").to_numpy(zero_copy_only=False)), sig[[by_id[i] for i in want]])
    assert json.loads(index.schema.metadata[b"corpusmill.minhash"]) == st.opts.shingle_view()

    # A fresh process (a resumed run whose decide was done) finds the file by its fixed name, and
    # the older layout (signatures in the Parquet side file) publishes the same bytes.
    again = mh.MinHashDedup({}, StageContext(workdir=str(work)))
    (entry2,) = again.release_files(tmp_path / "out2", pa.array(kept_ids))
    pq.write_table(written.append_column("doc", pa.array(np.arange(written.num_rows, dtype=np.int64))), again._side_path())
    sig_file.unlink()
    legacy = mh.MinHashDedup({}, StageContext(workdir=str(work)))
    (entry3,) = legacy.release_files(tmp_path / "out3", pa.array(kept_ids))
    assert entry["sha256"] == entry2["sha256"] == entry3["sha256"]


def test_an_index_already_in_order_is_not_sorted_and_has_the_sorted_bytes(tmp_path, monkeypatch):
    """The decide writes its signature rows in ingest order, so ``order`` ascends and the release
    skips the sort; the published bytes must be those of the sorted path, although the rows come
    from several of the file's batches (the Parquet writer cuts pages by the chunks it gets)."""
    work = tmp_path / "work"
    work.mkdir()
    st = mh.MinHashDedup({}, StageContext(workdir=str(work)))
    n = 3000
    batch = _batch(n)
    batch = batch.set_column(batch.schema.get_field_index("order"), "order", pa.array(np.arange(n, dtype=np.int64) * 3))
    # Long ids: > 1 MB of kept ids fills several Parquet pages, so the chunking shows in the bytes.
    batch = batch.set_column(0, "id", pa.array([f"d{i:05d}-" + "x" * 1000 for i in range(n)]))
    keys = st.keys(batch)
    decisions = st.decide(iter([keys.slice(0, 1100), keys.slice(1100, 1000), keys.slice(2100)]))
    assert pa.ipc.open_file(pa.memory_map(str(st._signature_path()))).num_record_batches == 3
    dropped = set(decisions.column("id").to_pylist())
    kept_ids = pa.array([i for i in batch.column("id").to_pylist() if i not in dropped][1::2])
    seen = []
    real = mh.strictly_ascending
    monkeypatch.setattr(mh, "strictly_ascending", lambda column: seen.append(real(column)) or seen[-1])
    (skipped,) = st.release_files(tmp_path / "skipped", kept_ids)
    assert seen == [True]  # the sort was skipped
    monkeypatch.setattr(mh, "strictly_ascending", lambda column: False)  # the sorted path, as before the skip
    (sorted_,) = mh.MinHashDedup({}, StageContext(workdir=str(work))).release_files(tmp_path / "sorted", kept_ids)
    assert skipped == sorted_  # sha256, bytes, rows
    index = pq.read_table(tmp_path / "skipped" / skipped["path"])
    assert index.column("id").to_pylist() == kept_ids.to_pylist()  # ascending order = ingest order here
    assert not real(pa.chunked_array([pa.array([1, 5]), pa.array([5, 7])]))
    assert real(pa.chunked_array([pa.array([1, 5]), pa.array([6])])) and real(pa.chunked_array([], pa.int64()))


def test_signature_file_is_removed_when_no_index_is_written(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    st = mh.MinHashDedup({"write_index": False, "verify": "signature"}, StageContext(workdir=str(work)))
    keys = st.keys(_batch(20))
    st.decide(iter([keys]))
    assert list(work.iterdir()) == [] and st.release_files(tmp_path / "out", pa.array(["d001"])) == []


CONFIG = ROOT / "tests" / "data" / "reliability" / "pipeline.yaml"


@pytest.mark.slow  # three runs of the crash fixture (~25 s)
def test_kill_between_decide_and_release_then_resume_gives_the_same_index(tmp_path):
    """Killed right after MinHash decided (its signature file written, nothing released), with two
    workers: the resumed run publishes the same manifest ID and index bytes as an uninterrupted one."""
    def run(name: str, *extra: str, env: dict | None = None, check: bool = True):
        (tmp_path / name).mkdir(exist_ok=True)
        return cli("run", str(CONFIG), "--out", str(tmp_path / name / "out"), "--catalog", str(tmp_path / name / "cat"),
                   "--workers", "2", *extra, cwd=tmp_path / name, env=env, check=check)

    run("whole")
    killed = run("killed", env={"CORPUSMILL_KILL_AT": "decided:minhash_dedup@2"}, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    work = tmp_path / "killed" / ".out.work"
    assert (work / "stage-tmp" / "minhash_dedup-2-signatures.arrow").exists()
    run("killed", "--resume")
    a, b = (json.loads((tmp_path / n / "out" / "manifest.json").read_text()) for n in ("whole", "killed"))
    assert a["id"] == b["id"]
    assert [e["sha256"] for e in a["indexes"]] == [e["sha256"] for e in b["indexes"]] and a["indexes"]
