"""Shards as tools nobody here wrote read them: pyarrow, Hugging Face ``datasets``, DuckDB, polars
and Spark. Each reader returns the same summary of a folder of shards, to compare with pyarrow's:
row count, column names, ids in file order, and ``pii_counts`` as ``{entity: count}`` per row.

Used on the demo output (tests/test_quickstart.py) and on a shared-deliveries run through every
stage (tests/test_shared_deliveries.py), so each column type the real configs write is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest


@dataclass
class Read:
    rows: int
    columns: list[str]
    ids: list[str]
    pii_counts: list[dict[str, int]] | None  # None: the shards have no pii stage column
    #: A few columns of other types, as plain Python values (lists, struct → dict, int, float):
    #: PII spans (list<struct<int32, int32, string>>), a float32 score, an int32 and an int64.
    values: dict[str, list[Any]]


#: Compared between readers when present (the kinds of type every stage writes).
VALUE_COLUMNS = ("pii", "decontam", "quality_score", "lang_score", "qh_words", "n_chars", "order")


def plain(v: Any) -> Any:
    if hasattr(v, "asDict"):  # a Spark Row (struct)
        v = v.asDict()
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    return v


def _values(columns: list[str], get: Any) -> dict[str, list[Any]]:
    return {c: [plain(x) for x in get(c)] for c in VALUE_COLUMNS if c in columns}


def _counts(rows: list[Any]) -> list[dict[str, int]]:
    out = []
    for r in rows:
        items = [(c["entity"], c["count"]) if isinstance(c, dict) else (c[0], c[1]) for c in (r or [])]
        out.append(dict(items))
    return out


def _files(shards: Path) -> list[str]:
    files = sorted(str(p) for p in shards.glob("*.parquet"))
    assert files, f"no shards in {shards}"
    return files


def with_pyarrow(shards: Path, tmp: Path, spark: Any = None) -> Read:
    t = pq.ParquetDataset(_files(shards)).read()
    pii = _counts(t.column("pii_counts").to_pylist()) if "pii_counts" in t.column_names else None
    return Read(t.num_rows, t.column_names, t.column("id").to_pylist(), pii, _values(t.column_names, lambda c: t.column(c).to_pylist()))


def with_hf_datasets(shards: Path, tmp: Path, spark: Any = None) -> Read:
    datasets = pytest.importorskip("datasets")
    ds = datasets.load_dataset("parquet", data_files=_files(shards), split="train", cache_dir=str(tmp / "hf-cache"))
    pii = _counts(ds["pii_counts"]) if "pii_counts" in ds.column_names else None
    return Read(ds.num_rows, ds.column_names, ds["id"], pii, _values(ds.column_names, lambda c: ds[c]))


def with_duckdb(shards: Path, tmp: Path, spark: Any = None) -> Read:
    duckdb = pytest.importorskip("duckdb")
    files = _files(shards)
    rel = duckdb.sql(f"SELECT * FROM read_parquet({files!r}, file_row_number = true, filename = true) ORDER BY filename, file_row_number")
    cols = [c for c in rel.columns if c not in ("filename", "file_row_number")]
    rows = rel.fetchall()
    at = {c: i for i, c in enumerate(rel.columns)}
    pii = _counts([r[at["pii_counts"]] for r in rows]) if "pii_counts" in at else None
    return Read(len(rows), cols, [r[at["id"]] for r in rows], pii, _values(cols, lambda c: [r[at[c]] for r in rows]))


def with_polars(shards: Path, tmp: Path, spark: Any = None) -> Read:
    pl = pytest.importorskip("polars")
    df = pl.concat([pl.read_parquet(f) for f in _files(shards)])
    pii = _counts(df["pii_counts"].to_list()) if "pii_counts" in df.columns else None
    return Read(df.height, df.columns, df["id"].to_list(), pii, _values(df.columns, lambda c: df[c].to_list()))


def with_spark(shards: Path, tmp: Path, spark: Any = None) -> Read:
    """``spark.read.parquet`` over the folder, every column collected (so each type is decoded)."""
    from pyspark.sql import functions as F

    df = spark.read.parquet(*_files(shards))
    cols = df.columns
    # every column but the text is collected (each type decoded); the text only counted, to keep
    # the 512 MB test JVM small
    assert df.filter(F.col("text").isNull()).count() == 0
    rows = df.drop("text").withColumn("_file", F.input_file_name()).collect()
    # Spark does not promise file order across files: order by file, then position within it
    order = {f: i for i, f in enumerate(_files(shards))}
    keyed = sorted(((order[Path(r["_file"].removeprefix("file://")).as_posix()], i), r) for i, r in enumerate(rows))
    rows = [r for _, r in keyed]
    pii = _counts([[c.asDict() for c in (r["pii_counts"] or [])] for r in rows]) if "pii_counts" in cols else None
    return Read(len(rows), cols, [r["id"] for r in rows], pii, _values(cols, lambda c: [r[c] for r in rows]))


READERS = {"pyarrow": with_pyarrow, "hf_datasets": with_hf_datasets, "duckdb": with_duckdb, "polars": with_polars, "spark": with_spark}
