"""Analyses shared by the map stages of a segment (filters/analysis.py): computed once per batch,
re-indexed after drops, forgotten when the text is replaced, never carried to the next batch —
and a run gives the same manifest with sharing on and off."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import yaml

from filters.analysis import TEXTS, Analysis, BatchAnalysis
from filters.base import MapStage, StageResult
from pipelines import execution
from pipelines.execution import MapChain, output_schema
from pipelines.progress import null_progress
from tests.conftest import EXAMPLES

LENGTHS = Analysis("lengths", lambda batch, shared: np.array([len(t) for t in shared.get(TEXTS, batch)]), lambda v, rows: v[rows])


class _Reader(MapStage):
    """Reads the shared texts and lengths; checks them against its own batch; drops what ``drop`` says."""

    name = "reader"
    version = 1

    def __init__(self, drop=lambda text: False, name: str = "reader"):
        super().__init__()
        self.drop, self.name = drop, name
        self.seen: list[BatchAnalysis] = []

    def process(self, batch: pa.RecordBatch) -> StageResult:
        return self.process_shared(batch, BatchAnalysis())

    def process_shared(self, batch: pa.RecordBatch, shared: BatchAnalysis) -> StageResult:
        self.seen.append(shared)
        texts = shared.get(TEXTS, batch)
        assert texts == batch.column("text").to_pylist()
        assert shared.get(LENGTHS, batch).tolist() == [len(t) for t in texts]
        keep = np.array([not self.drop(t) for t in texts], dtype=bool)
        return StageResult(keep=keep, reasons=[None if k else "test" for k in keep])


class _Upper(MapStage):
    """Replaces the text (upper case); publishes its strings when ``publish``."""

    name = "upper"
    version = 1

    def __init__(self, publish: bool):
        super().__init__()
        self.publish = publish

    def process(self, batch: pa.RecordBatch) -> StageResult:
        return self.process_shared(batch, BatchAnalysis())

    def process_shared(self, batch: pa.RecordBatch, shared: BatchAnalysis) -> StageResult:
        new = [t.upper() for t in shared.get(TEXTS, batch)]
        if self.publish:
            shared.publish(TEXTS, new)
        return StageResult.keep_all(len(new), {"text": pa.array(new, pa.string())})


def chain_of(*stages: MapStage) -> MapChain:
    schemas = [output_schema(list(stages[: i + 1])) for i in range(len(stages))]
    return MapChain(list(stages), schemas, output_schema([]))


def docs(texts: list[str]) -> pa.Table:
    n = len(texts)
    return pa.table({"id": [f"d{i}" for i in range(n)], "text": texts, "order": list(range(n)), "source_id": ["s"] * n})


TEXTS_IN = ["a", "bb", "ccc", "dddd", "eeeee", "ffffff"]


def test_an_analysis_is_computed_once_per_batch_and_shared():
    a, b = _Reader(name="a"), _Reader(name="b")
    chain_of(a, b)(0, docs(TEXTS_IN))
    shared = a.seen[0]
    assert b.seen == [shared]
    assert shared.computed == {"texts": 1, "lengths": 1}


def test_values_are_reindexed_after_a_stage_drops_rows():
    first = _Reader(drop=lambda t: len(t) % 2 == 0, name="first")  # drops bb, dddd, ffffff
    second = _Reader(drop=lambda t: t == "eeeee", name="second")
    third = _Reader(name="third")
    piece = chain_of(first, second, third)(0, docs(TEXTS_IN))
    assert piece.docs.column("text").to_pylist() == ["a", "ccc"]
    # _Reader checked the shared texts and lengths against its batch at every stage.
    assert third.seen[0].computed == {"texts": 1, "lengths": 1}


def test_a_replaced_text_is_recomputed_unless_the_stage_published_it():
    for publish, computed in ((False, 2), (True, 1)):
        before, after = _Reader(drop=lambda t: t == "bb", name="before"), _Reader(name="after")
        piece = chain_of(before, _Upper(publish), after)(0, docs(TEXTS_IN))
        assert piece.docs.column("text").to_pylist() == [t.upper() for t in TEXTS_IN if t != "bb"]
        assert after.seen[0].computed["texts"] == computed
        assert after.seen[0].computed["lengths"] == 2  # built on the old text: recomputed either way


def test_a_published_value_is_reindexed_by_the_publishing_stages_own_drops():
    class DropAndUpper(_Upper):
        def process_shared(self, batch, shared):
            res = super().process_shared(batch, shared)
            res.keep = np.array([len(t) != 3 for t in batch.column("text").to_pylist()])
            res.reasons = [None if k else "test" for k in res.keep]
            return res

    after = _Reader(name="after")
    piece = chain_of(_Reader(name="before"), DropAndUpper(publish=True), after)(0, docs(TEXTS_IN))
    assert piece.docs.column("text").to_pylist() == [t.upper() for t in TEXTS_IN if len(t) != 3]
    assert after.seen[0].computed["texts"] == 1


def test_each_batch_has_its_own_analysis():
    reader = _Reader()
    chain = chain_of(reader)
    chain(0, docs(TEXTS_IN))
    chain(0, docs(["x", "y"]))  # _Reader would fail if it got the first batch's texts
    assert len(reader.seen) == 2 and reader.seen[0] is not reader.seen[1]
    assert [s.computed for s in reader.seen] == [{"texts": 1, "lengths": 1}] * 2


def test_without_sharing_each_stage_computes_alone(monkeypatch):
    monkeypatch.setattr(MapChain, "share_analyses", False)
    a, b = _Reader(name="a"), _Reader(name="b")
    chain_of(a, b)(0, docs(TEXTS_IN))
    assert a.seen[0] is not b.seen[0]


def test_the_keys_step_reads_what_the_chain_shared():
    from filters.exact_dedup import ExactDedup
    from filters.normalize import Normalize
    from pipelines.execution import KeysStep

    texts = ["  a\u3000b ", "", "c  d", "a b"]  # the empty one is dropped by normalize
    chain = chain_of(Normalize())
    step = KeysStep(ExactDedup(), chain.schema_out)
    piece = chain(0, docs(texts))
    assert piece.shared is not None
    shared_keys = step(piece.docs, piece.shared)
    assert piece.shared.computed == {"texts": 1}  # normalize's strings, published, re-indexed, reused
    assert shared_keys.equals(step(piece.docs))
    assert shared_keys.column("hash")[0] == shared_keys.column("hash")[2]


def test_an_analysis_never_crosses_processes():
    import pickle

    shared = BatchAnalysis()
    shared.get(TEXTS, pa.record_batch({"text": TEXTS_IN}))
    copy = pickle.loads(pickle.dumps(shared))
    assert copy.computed == {} and copy.get(TEXTS, pa.record_batch({"text": ["x"]})) == ["x"]


def test_a_drop_the_core_did_not_report_is_an_error():
    shared = BatchAnalysis()
    batch = pa.record_batch({"text": TEXTS_IN})
    shared.get(TEXTS, batch)
    with pytest.raises(RuntimeError, match="6 expected"):
        shared.get(TEXTS, batch.slice(0, 3))


# --------------------------------------------------------------------------- a real run


STAGES = [
    "normalize",
    {"name": "length", "min_chars": 2},
    "exact_dedup",
    "decontaminate",  # masks a statute (replaces the text mid-chain) and drops one
    "langid",
    "quality_heuristics",
    {"name": "pii", "lang": "auto"},
]


def sample_config(dest: Path) -> Path:
    from tests.test_engines import with_benchmark

    raw = yaml.safe_load((EXAMPLES / "pipeline.yaml").read_text(encoding="utf-8"))
    for src in raw["sources"]:
        src["paths"] = [str(EXAMPLES / p) for p in src["paths"]]
    raw["stages"] = list(STAGES)
    raw["limits"] = {**raw.get("limits", {}), "batch_size": 64}
    with_benchmark(raw, dest)
    path = dest / "sample.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.slow
def test_a_run_gives_the_same_manifest_with_sharing_on_and_off(tmp_path, monkeypatch):
    from pipelines import runner

    cfg = sample_config(tmp_path)
    made: list[BatchAnalysis] = []

    class Recorded(BatchAnalysis):
        def __init__(self):
            super().__init__()
            made.append(self)

    monkeypatch.setattr(execution, "BatchAnalysis", Recorded)
    ids = {}
    for share in (True, False):
        monkeypatch.setattr(MapChain, "share_analyses", share)
        out = tmp_path / f"share-{share}"
        outcome = runner.run(cfg, out=out, catalog=str(tmp_path / f"cat-{share}"), progress=null_progress(),
                             plan=runner.prepare(cfg, workers=1))
        ids[share] = outcome.id
        if share:
            # Every chain call converted each text version once: normalize's, and decontaminate's
            # (published) reused by langid, quality_heuristics and pii.
            assert made and all(m.computed.get("texts", 0) == 1 for m in made)
            shared_batches = len(made)
        else:
            assert len(made) == shared_batches, "no shared analysis without sharing"
    assert ids[True] == ids[False]


def test_the_module_examples_run():
    import doctest

    import filters.analysis

    assert doctest.testmod(filters.analysis).failed == 0
