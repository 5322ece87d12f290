"""Unit tests of the small pieces the end-to-end runs lean on: the ``length`` and ``exact_dedup``
stages, the plan (config → files) and shard writing. Tiny in-memory inputs; no CLI, no models."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from corpusmill_base.errors import ConfigError, InputError
from corpusmill_base.hashing import sha256_file
from filters.base import DECISION_SCHEMA, StageContext
from filters.exact_dedup import ExactDedup, text_key
from filters.length import LengthFilter
from filters.schema import DOCUMENT_SCHEMA
from pipelines.config import PipelineConfig, StageSpec
from pipelines.plan import make_plan
from pipelines.shards import ShardWriter


def docs(texts: list[str], sources: list[str] | None = None) -> pa.RecordBatch:
    n = len(texts)
    sources = sources or ["s"] * n
    return pa.RecordBatch.from_pydict(
        {
            "id": [f"{s}-{i:016x}" for i, s in enumerate(sources)],
            "text": texts,
            "source_id": sources,
            "source_file": ["f.jsonl"] * n,
            "source_locator": [f"line {i + 1}" for i in range(n)],
            "source_record_id": [None] * n,
            "lang": [None] * n,
            "domain": [None] * n,
            "order": list(range(n)),
        },
        schema=DOCUMENT_SCHEMA,
    )


# --- length ----------------------------------------------------------------------------------


def test_length_drops_short_and_long_with_score_and_threshold():
    res = LengthFilter({"min_chars": 3, "max_chars": 5}).process(docs(["ab", "abc", "abcde", "abcdef", "한국어"]))
    assert res.keep.tolist() == [False, True, True, False, True]
    assert res.reasons == ["too_short", None, None, "too_long", None]
    assert res.columns["n_chars"].to_pylist() == [2, 3, 5, 6, 3]  # characters, not bytes
    assert res.scores is not None and res.thresholds is not None
    assert (res.scores[0], res.thresholds[0]) == (2.0, 3.0) and (res.scores[3], res.thresholds[3]) == (6.0, 5.0)
    assert math.isnan(res.scores[1]) and math.isnan(res.thresholds[1])  # kept: no deciding score


def test_length_options_are_typed_and_effective_in_the_manifest():
    stage = LengthFilter({"min_chars": 2})
    assert stage.describe()["options"] == {"min_chars": 2, "max_chars": 1_000_000}  # defaults filled in
    assert [t.option for t in stage.scores[0].thresholds] == ["min_chars", "max_chars"]
    with pytest.raises(ConfigError, match=r"stage length: unknown option 'min_char' \(known: max_chars, min_chars\)"):
        LengthFilter({"min_char": 2})
    with pytest.raises(ConfigError, match="option 'max_chars'"):
        LengthFilter({"max_chars": "many"})


def test_config_rejects_bad_stage_options_and_repeated_stages():
    with pytest.raises(ValueError, match="stage langid: unknown option 'min_scor'"):
        StageSpec(name="langid", options={"min_scor": 0.5})
    src = {"id": "s", "paths": ["x.jsonl"], "format": "jsonl", "provenance": {"owner": "o", "acquisition": "owned"}}
    base = {"name": "t", "purpose": {"description": "d", "uses": ["research"]}, "sources": [src]}
    with pytest.raises(ValueError, match="each stage may be listed once; repeated: length"):
        PipelineConfig.model_validate(base | {"stages": ["normalize", "length", {"name": "length", "min_chars": 3}]})


# --- exact_dedup -----------------------------------------------------------------------------


def test_exact_dedup_keeps_lowest_priority_then_earliest_and_ignores_whitespace():
    batch = docs(["a  b\nc", "x", "a b c", "a b c", "y"], sources=["low", "low", "high", "low", "low"])
    stage = ExactDedup(context=StageContext(source_priority={"high": 0, "low": 1}))
    keys = stage.keys(batch)
    assert keys.column("hash").to_pylist()[0] == text_key("a b c")
    # split the keys in two streamed tables: the decision must not depend on how they arrive
    out = stage.decide([keys.slice(0, 2), keys.slice(2)])
    assert out.schema == DECISION_SCHEMA
    rows = {r["id"]: r for r in out.to_pylist()}
    keeper = "high-0000000000000002"  # priority 0 beats the earlier documents of priority 1
    assert set(rows) == {"low-0000000000000000", "low-0000000000000003"}
    assert all(r["duplicate_of"] == keeper and r["cluster_id"] == keeper and r["reason"] == "exact_duplicate" for r in rows.values())
    assert all(r["score"] is None and r["threshold"] is None for r in rows.values())  # no threshold decided
    assert stage.decide([]).num_rows == 0


# --- plan ------------------------------------------------------------------------------------


def _config(tmp_path, paths, **source) -> PipelineConfig:
    src = {"id": "s", "paths": paths, "format": "jsonl", "provenance": {"owner": "o", "acquisition": "owned", "licence": "CC0-1.0"}} | source
    return PipelineConfig.model_validate({"name": "t", "purpose": {"description": "d", "uses": ["research"]}, "sources": [src]})


def test_plan_resolves_globs_and_directories_in_a_stable_order(tmp_path):
    (tmp_path / "d" / "sub").mkdir(parents=True)
    for rel in ("d/b.jsonl", "d/a.jsonl", "d/sub/c.jsonl"):
        (tmp_path / rel).write_text('{"text": "x"}\n', encoding="utf-8")
    plan = make_plan(_config(tmp_path, ["d/", "d/*.jsonl"]), tmp_path)  # overlapping patterns: each file once
    files = plan.sources[0].files
    assert [f.rel for f in files] == ["a.jsonl", "b.jsonl", "sub/c.jsonl"]
    assert all(f.size == 14 and f.refused is None for f in files) and plan.total_bytes == 42


def test_plan_names_a_pattern_that_matches_nothing(tmp_path):
    with pytest.raises(InputError, match=r"source 's': .*nothing-here.*matches no files"):
        make_plan(_config(tmp_path, ["nothing-here/*.jsonl"]), tmp_path)


# --- shard writing ---------------------------------------------------------------------------


def test_shards_cut_by_text_bytes_independent_of_batches(tmp_path):
    texts = [f"document {i} " + "가" * (i % 7) for i in range(40)]
    table = pa.Table.from_batches([docs(texts)])
    whole = ShardWriter(tmp_path / "a", DOCUMENT_SCHEMA, target_bytes=100)
    whole.add(table)
    a = whole.close()
    pieces = ShardWriter(tmp_path / "b", DOCUMENT_SCHEMA, target_bytes=100)
    for start in range(0, 40, 3):  # other batch boundaries
        pieces.add(table.slice(start, 3))
    b = pieces.close()
    assert [(s.path, s.sha256, s.rows) for s in a] == [(s.path, s.sha256, s.rows) for s in b]  # same bytes
    assert len(a) > 1 and sum(s.rows for s in a) == 40
    for s in a:
        path = tmp_path / "a" / s.path
        assert sha256_file(path) == s.sha256 and path.stat().st_size == s.bytes
        assert pq.read_table(path).column("order").to_pylist() == list(range(s.first_order, s.last_order + 1))
    assert not list((tmp_path / "a" / "shards").glob("*.tmp*"))  # atomic: no temporary left behind
    orders = np.array([0, a[1].first_order, 39])
    assert whole.shard_of(orders) == [a[0].path, a[1].path, a[-1].path]


def test_manifest_records_thresholds_that_are_defaults():
    from filters.minhash_dedup import MinHashDedup
    from filters.pii import DEFAULT_THRESHOLDS, PresidioScrubber

    pii = PresidioScrubber({"thresholds": {"PERSON": 0.9}}).describe()
    assert pii["options"]["thresholds"] == DEFAULT_THRESHOLDS | {"PERSON": 0.9} and pii["options"]["default_threshold"] == 0.5
    assert pii["scores"][0]["column"] == "pii_density" and not pii["scores"][0]["in_documents"]
    mh = MinHashDedup().describe()
    assert mh["options"]["threshold"] == 0.6 and mh["options"]["domain_thresholds"] == {"legal": 0.85}
    assert mh["lsh"]["bands"] * mh["lsh"]["rows"] <= mh["options"]["num_perm"]
