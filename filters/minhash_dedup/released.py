"""Earlier releases: their signature index (files the runner resolved from the catalog) and their texts, for deduplication against them."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from corpusmill_base import arrowio
from corpusmill_base.errors import ConfigError
from filters.base import Release
from filters.minhash_dedup.options import INDEX_PATH, MinHashOptions


INDEX_SCHEMA = pa.schema([pa.field("id", pa.string()), pa.field("order", pa.int64())])


def load_released(opts: MinHashOptions, releases: dict[str, Release]) -> tuple[pa.Table, dict[str, list[str]]]:
    """Signature index rows (``id``, ``signature``, ``manifest``) of the released manifests, read
    from the files the runner resolved and checked (``StageContext.releases``)."""
    if not opts.released:
        return pa.schema([pa.field("id", pa.string())]).empty_table(), {}
    import fsspec

    tables, shard_urls = [], {}
    for mid in opts.released:
        release = releases.get(mid)
        if release is None:
            raise ConfigError(f"minhash_dedup: released manifest {mid} was not resolved for this run")
        url = release.indexes.get(INDEX_PATH)
        if url is None:
            raise ConfigError(f"minhash_dedup: released manifest {mid} has no MinHash index (was it built with minhash_dedup?)")
        fs, path = fsspec.core.url_to_fs(url)
        with arrowio.open_input(fs, path) as f:  # no Python file behind Arrow's reads (corpusmill_base.arrowio)
            table = pq.read_table(f)
        meta = json_meta(table.schema)
        if meta != opts.shingle_view():
            raise ConfigError(f"minhash_dedup: released manifest {mid} was indexed with {meta}, this run uses {opts.shingle_view()}; they cannot be compared")
        tables.append(table.select(["id", "signature"]).append_column("manifest", pa.array([mid] * table.num_rows, pa.string())))
        shard_urls[mid] = list(release.shards)
    return pa.concat_tables(tables), shard_urls


def json_meta(schema: pa.Schema) -> dict[str, Any]:
    import json

    raw = (schema.metadata or {}).get(b"corpusmill.minhash")
    return json.loads(raw) if raw else {}


def released_texts(shard_urls: dict[str, list[str]], ids: list[str]) -> dict[str, str]:
    import pyarrow.dataset as pads

    out: dict[str, str] = {}
    want = pa.array(sorted(set(ids)), pa.string())
    for urls in shard_urls.values():
        if not urls:
            continue
        t = pads.dataset(urls, format="parquet").to_table(columns=["id", "text"], filter=pc.field("id").isin(want))
        out.update(zip(t.column("id").to_pylist(), t.column("text").to_pylist()))
    return out
