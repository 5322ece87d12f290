"""The ``minhash_dedup`` stage: keys per batch, the decide side (in memory or spilled), the ledger decisions and the release index."""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from filters.base import GlobalStage, Score, Threshold, StageContext, StageOptions, decision_table
from filters.columns import strictly_ascending, to_arrow
from filters.minhash_dedup.compiled import worth_loading
from filters.minhash_dedup.bands import BandSpill, candidate_pairs, pairs_by_doc_number, pairs_of_partition, shuffle_table, sorted_unique, unpack
from filters.minhash_dedup.hashes import U64
from filters.minhash_dedup.options import INDEX_PATH, MinHashOptions, REASON, REASON_RELEASED
from filters.minhash_dedup.released import load_released, released_texts
from filters.minhash_dedup.signatures import KEY_FIELDS, Shingler, _matrix, band_keys, signature_keys, warm_kernels
from filters.minhash_dedup.sketches import prefilter_ceiling, prefilter_floor, sketch_estimate, sketch_of
from filters.minhash_dedup.verify import ShingleSets, clusters_and_keepers, components, verify_pairs


def _cpus() -> int:
    """CPUs this process may run on (the affinity mask on Linux, the machine's count elsewhere)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def release_free_memory() -> None:
    """Hand freed heap memory back to the OS. The grouping threads sort in their own malloc
    arenas, which glibc keeps after the arrays are freed (hundreds of MB of RSS for nothing)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


def side_rows(path: Path, columns: list[str], docs: np.ndarray, batch_rows: int = 65536) -> Iterator[tuple[np.ndarray, pa.RecordBatch]]:
    """``columns`` of the side file's rows for ``docs`` (sorted document numbers), a batch at a
    time. ``decide`` writes document ``i`` as row ``i``, so rows are taken by position."""
    start = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows, columns=columns or ["doc"], use_threads=False):
        end = start + batch.num_rows
        lo, hi = np.searchsorted(docs, [start, end])
        if hi > lo:
            yield docs[lo:hi], batch.take(to_arrow(docs[lo:hi] - start, pa.int64()))
        start = end


#: Side-file rows per batch while the release index is filtered (the side file holds every
#: document's signature, ~0.5 KB each: read a batch at a time).
INDEX_BATCH_ROWS = 65536

#: The signature file's columns (an Arrow IPC file beside the Parquet side file, one row per
#: document in decide order): what ``release_files`` publishes the kept rows of, and what
#: verification reads signatures from by document number.
SIGNATURE_COLUMNS = ("id", "order", "signature")


def _signature_reader(path: Path) -> pa.ipc.RecordBatchFileReader:
    """The signature file, memory-mapped: a column or a few rows are read without the rest."""
    return pa.ipc.open_file(pa.memory_map(str(path), "r"))


class _Clock:
    def __init__(self, into: dict[str, float]):
        self.into, self.t = into, time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.into[name] = round(now - self.t, 3)
        self.t = now


class MinHashDedup(GlobalStage):
    name = "minhash_dedup"
    version = 2  # 2: candidate pairs settled on one-byte sketches where clear (detail "jaccard ~x")
    shuffle_only_columns = ("bands",)  # 42 uint64 per document

    Options = MinHashOptions
    opts: MinHashOptions
    # A drop's ledger score is its highest verified Jaccard; threshold that pair's (domain) threshold.
    scores = (Score("jaccard", (Threshold("threshold", "above", REASON),), reasons=(REASON_RELEASED,), in_documents=False),)

    def __init__(self, options: Mapping[str, Any] | StageOptions | None = None, context: StageContext | None = None):
        super().__init__(options, context)
        self.opts.lsh_params()
        self.shingler: Shingler | None = None
        self.stats: dict[str, int] = {}
        self.timings: dict[str, float] = {}  # seconds per part of decide (not in the manifest)
        self._index_path: Path | None = None
        self._released_cache: tuple[pa.Table, dict[str, list[str]]] | None = None
        self._built_in = os.getpid()  # see setup()

    def setup(self) -> None:
        self.shingler = Shingler(self.opts)
        # The keys' kernels are loaded ahead only in the process that built the stage: the local
        # engine's main process, which sets up before it forks the workers that compute keys (they
        # inherit them). A process that inherited or unpickled the stage before its set-up — the
        # local engine's decider, forked at the run's start, whose decide calls one kernel of the
        # four (the band-key partitioning); a Ray or Beam worker — loads only what it calls once
        # its work passes compiled.WORTH_IT: the decider's set-up 0.78–0.95 → 0.39 CPU-s
        # (numba's import and the kernels' load, 2026-12-07).
        if os.getpid() == self._built_in and worth_loading(self.context.input_bytes):
            warm_kernels(self.opts, self.shingler, self._keeps_signatures)

    def wanted_releases(self) -> tuple[list[str], str | None]:
        return list(self.opts.released), self.opts.catalog

    def describe(self) -> dict[str, Any]:
        bands, rows = self.opts.lsh_params()
        return super().describe() | {"lsh": {"bands": bands, "rows": rows}}

    @property
    def _keeps_signatures(self) -> bool:
        return self.opts.verify == "signature" or bool(self.opts.released) or (self.opts.write_index and bool(self.context.workdir))

    def keys(self, batch: pa.RecordBatch) -> pa.Table:
        self.ensure_setup()
        assert self.shingler is not None  # set by setup()
        return signature_keys(batch, self.opts, self.shingler, self.context.source_priority, self._keeps_signatures)

    # Engine shuffle (Ray groupby, Beam GroupByKey): band keys → partitions → candidate pairs.
    def shuffle_rows(self, keys: pa.Table) -> pa.Table:
        bands = _matrix(keys.column("bands"), self.opts.lsh_params()[0], U64)
        orders = np.repeat(keys.column("order").to_numpy(), bands.shape[1])
        return shuffle_table(bands.ravel(), orders, self.opts.partitions)

    def outside_shuffle_rows(self) -> pa.Table | None:
        """The released documents' band keys; their ordinals are ``-1 - row`` of the index."""
        released, _ = self._released()
        m = released.num_rows
        if m == 0:
            return None
        rk = self._released_band_keys(released)
        return shuffle_table(rk.ravel(), np.repeat(-1 - np.arange(m, dtype=np.int64), rk.shape[1]), self.opts.partitions)

    def _released_band_keys(self, released: pa.Table) -> np.ndarray:
        return band_keys(_matrix(released.column("signature"), self.opts.num_perm), *self.opts.lsh_params())

    def reduce_partition(self, rows: pa.Table) -> pa.Table:
        return pairs_of_partition(rows)

    def _released(self) -> tuple[pa.Table, dict[str, list[str]]]:
        if self._released_cache is None:
            self._released_cache = load_released(self.opts, self.context.releases)
        return self._released_cache

    def _budget(self) -> int:
        if self.opts.memory_budget_mb is not None:
            return int(self.opts.memory_budget_mb * 1024 * 1024)
        return int(self.context.memory_budget_bytes) // 128  # 16 MiB of band keys (≈ 1.4 M rows) by default

    def decide(self, keys: Iterable[pa.Table], grouped: Iterable[pa.Table] | None = None) -> pa.Table:
        """``grouped``: the engine's :meth:`reduce_partition` outputs (candidate pairs by ordinal);
        without it the band keys are grouped here, spilling past the memory budget."""
        self.ensure_setup()
        opts = self.opts
        workdir = self.context.workdir or tempfile.gettempdir()
        os.makedirs(workdir, exist_ok=True)
        spill = BandSpill(self._budget(), opts.partitions, workdir)
        small: list[pa.Table] = []
        side_path = self._side_path()
        sig_path = self._signature_path()
        side_writer = None
        sig_writer: pa.ipc.RecordBatchFileWriter | None = None
        n = 0
        keep_index = False
        clock = _Clock(self.timings)
        # The side file is written on a thread (Parquet writes release the GIL): ~2 s of the main
        # thread's time on the 84 MB corpus, now overlapped with grouping the band keys.
        writer_thread = ThreadPoolExecutor(1, thread_name_prefix="minhash-side")
        writes: deque[Future] = deque()
        try:
            for k in keys:
                if k.num_rows == 0:
                    continue
                docs = np.arange(n, n + k.num_rows, dtype=np.int64)
                if grouped is None:
                    bands = _matrix(k.column("bands"), opts.lsh_params()[0], U64)
                    spill.add(bands.ravel(), np.repeat(docs, bands.shape[1]))
                # take() copies: a key table unpickled from a worker is one buffer, text included,
                # and a zero-copy select would keep all of it alive.
                small.append(k.select([f.name for f in KEY_FIELDS]).take(to_arrow(np.arange(k.num_rows, dtype=np.int64), pa.int64())))
                # With signatures the sketches come from the signature file (see _prefilter); a
                # key table of an earlier version (a resumed run) may still carry them: left out.
                side_cols = [c for c in ("sketch", "text") if c in k.column_names and not (c == "sketch" and "signature" in k.column_names)]
                side = k.select(side_cols).append_column("doc", to_arrow(docs, pa.int64()))
                if side_writer is None:
                    # Scratch read back once: compressing the text cost more than writing it (0.25 vs 0.1 s on 20 MB).
                    side_writer = pq.ParquetWriter(side_path, side.schema, compression="none", use_dictionary=False, write_statistics=False)
                writes.append(writer_thread.submit(side_writer.write_table, side))
                if "signature" in k.column_names:
                    # Signatures, ids and orders go to an uncompressed Arrow IPC file instead: the
                    # release reads its id column alone and copies only the kept rows (reading every
                    # signature back out of the Parquet side file was 1.5-2.1 s of the main
                    # process's serial tail on the 20 MB sample).
                    sig = k.select(list(SIGNATURE_COLUMNS))
                    if sig_writer is None:
                        sig_writer = pa.ipc.new_file(str(sig_path), sig.schema)
                    writes.append(writer_thread.submit(sig_writer.write_table, sig))
                while len(writes) > 2:  # bounded: at most two batches' side rows in flight
                    writes.popleft().result()
                n += k.num_rows
            while writes:
                writes.popleft().result()
            if side_writer is not None:
                side_writer.close()
            if sig_writer is not None:
                sig_writer.close()
            clock.lap("keys")
            released, shard_urls = self._released()
            m = released.num_rows
            table = pa.concat_tables(small) if small else pa.schema(KEY_FIELDS).empty_table()
            if grouped is not None:
                pairs = pairs_by_doc_number(grouped, table.column("order").to_numpy(), n)
            else:
                if m:
                    rk = self._released_band_keys(released)
                    spill.add(rk.ravel(), np.repeat(np.arange(n, n + m, dtype=np.int64), rk.shape[1]))
                pairs = candidate_pairs(spill.tables(), threads=min(4, _cpus()))
                release_free_memory()
            clock.lap("group")
            self.stats = {"documents": n, "released": m, "candidate_pairs": int(pairs.size), "spilled_band_rows": spill.spilled_rows}
            if m:  # pairs among released documents are not this run's business
                pairs = pairs[unpack(pairs)[0] < n]
            self.stats["distinct_ids"] = int(pc.count_distinct(table.column("id")).as_py()) if n else 0
            thresholds = np.concatenate([table.column("threshold").to_numpy(), np.zeros(m)])
            if opts.verify == "none":
                verified, jac, estimated = pairs, np.full(pairs.size, np.nan), np.zeros(pairs.size, dtype=bool)
            else:
                verified, jac, estimated = self._verify(pairs, side_path, sig_path if sig_writer is not None else None, n, released, shard_urls, thresholds)
            self.stats["verified_pairs"] = int(verified.size)
            release_free_memory()
            clock.lap("verify")
            decisions = self._decisions(table, released, verified, jac, estimated, n, m, thresholds)
            clock.lap("keep")
            keep_index = opts.write_index and bool(self.context.workdir) and sig_writer is not None
            self._index_path = sig_path if keep_index else None
            return decisions
        finally:
            writer_thread.shutdown(wait=True)
            spill.cleanup()
            side_path.unlink(missing_ok=True)  # texts and sketches: only verification reads them
            if not keep_index:
                sig_path.unlink(missing_ok=True)

    def _verify(self, pairs, side_path: Path, sig_path: Path | None, n: int, released: pa.Table, shard_urls, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The candidate pairs at or above their threshold, their Jaccard, and whether it is an
        estimate. With exact verification, the one-byte sketches first settle the clear cases
        (see :data:`PREFILTER_SIGMAS`) and only the rest are compared shingle set to shingle set.

        ``thresholds`` has one entry per document (released ones 0: the new document's counts)."""
        opts = self.opts
        sure, sure_jac = np.zeros(0, dtype=U64), np.zeros(0)
        if pairs.size and opts.verify == "exact":
            pairs, est = self._prefilter(pairs, side_path, sig_path, n, released, thresholds)
            lo, hi = unpack(pairs)
            certain = est >= prefilter_ceiling(np.maximum(thresholds[lo], thresholds[hi]), opts.num_perm)
            sure, sure_jac = pairs[certain], np.minimum(est[certain], 1.0)
            pairs = pairs[~certain]
            self.stats["sketch_verified_pairs"] = int(sure.size)
        verified, jac = self._verify_exact(pairs, side_path, sig_path, n, released, shard_urls, thresholds)
        estimated = np.concatenate([np.ones(sure.size, dtype=bool), np.full(verified.size, opts.verify != "exact")])
        verified, jac = np.concatenate([sure, verified]), np.concatenate([sure_jac, jac])
        order = np.argsort(verified, kind="stable")
        return verified[order], jac[order], estimated[order]

    def _verify_exact(self, pairs: np.ndarray, side_path: Path, sig_path: Path | None, n: int, released: pa.Table, shard_urls, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact Jaccard of shingle sets (signature estimate when ``verify: signature``)."""
        opts = self.opts
        if pairs.size == 0:
            return pairs, np.zeros(0)
        involved = sorted_unique(np.concatenate(unpack(pairs)))
        rel = involved[involved >= n]
        sig_docs: list[np.ndarray] = []
        sig_rows: list[np.ndarray] = []
        text_docs: list[np.ndarray] = []
        texts: list[str] = []
        own = involved[involved < n]
        if sig_path is not None and own.size:  # rows by document number, from the memory-mapped signature file
            column = _signature_reader(sig_path).read_all().column("signature")
            sig_docs.append(own)
            sig_rows.append(_matrix(column.take(to_arrow(own, pa.int64())), opts.num_perm))
            del column
        if opts.verify == "exact":
            for docs, t in side_rows(side_path, ["text"], own):
                text_docs.append(docs)
                texts += t.column("text").to_pylist()
        if rel.size:
            rows = rel - n
            sig_docs.append(rel)
            sig_rows.append(_matrix(released.column("signature"), opts.num_perm)[rows])
            if opts.verify == "exact":
                ids = released.column("id").take(to_arrow(rows, pa.int64())).to_pylist()
                found = released_texts(shard_urls, ids)
                have = [(d, found[i]) for d, i in zip(rel.tolist(), ids) if i in found]
                text_docs.append(np.array([d for d, _ in have], dtype=np.int64))
                texts += [t for _, t in have]
        sets = None
        if texts:
            assert self.shingler is not None  # set by setup()
            sets = ShingleSets.of_texts(np.concatenate(text_docs), texts, self.shingler)
        signatures_of = None
        if sig_docs:
            docs = np.concatenate(sig_docs)
            order = np.argsort(docs)
            signatures_of = (docs[order], np.concatenate(sig_rows)[order])
        lo, hi = unpack(pairs)
        return verify_pairs(pairs, np.maximum(thresholds[lo], thresholds[hi]), sets, signatures_of)

    def _prefilter(self, pairs: np.ndarray, side_path: Path, sig_path: Path | None, n: int, released: pa.Table, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The candidate pairs that can reach their threshold, judged on one-byte sketches, and
        their sketch estimates. ``sig_path``: the decide's signature file, whose rows give the
        sketches of this run's documents (keys with signatures carry no sketch); without it the
        side file's sketch column."""
        involved = sorted_unique(np.concatenate(unpack(pairs)))
        own = int(np.searchsorted(involved, n))
        # Rows arrive in the order of ``involved``: filled in place, one copy of the sketches.
        sketch = np.empty((involved.size, self.opts.num_perm), dtype=np.uint8)
        if sig_path is not None:
            column = _signature_reader(sig_path).read_all().column("signature")
            if len(column) != n:
                raise RuntimeError(f"minhash_dedup: signature file {sig_path} has {len(column)} of {n} documents")
            if own:  # only the candidates' rows are read out of the memory map
                sketch[:own] = sketch_of(_matrix(column.take(to_arrow(involved[:own], pa.int64())), self.opts.num_perm), compiled_ok=False)
            filled = own
            del column
        else:
            filled = 0
            for docs, t in side_rows(side_path, ["sketch"], involved[:own]):
                sketch[filled : filled + t.num_rows] = _matrix(t.column("sketch"), self.opts.num_perm, np.uint8)
                filled += t.num_rows
        if filled != own:
            raise RuntimeError(f"minhash_dedup: side file {side_path} lacks {own - filled} documents")
        if own < involved.size:
            sketch[own:] = sketch_of(_matrix(released.column("signature"), self.opts.num_perm)[involved[own:] - n])
        docs_all = involved
        lo, hi = unpack(pairs)
        floor = prefilter_floor(np.maximum(thresholds[lo], thresholds[hi]), self.opts.num_perm)
        est = np.empty(pairs.size)
        step = 1 << 16
        for i in range(0, pairs.size, step):
            a = sketch[np.searchsorted(docs_all, lo[i : i + step])]
            b = sketch[np.searchsorted(docs_all, hi[i : i + step])]
            est[i : i + step] = sketch_estimate(a, b)
        keep = est >= floor
        self.stats["prefiltered_pairs"] = int((~keep).sum())
        del sketch
        release_free_memory()
        return pairs[keep], est[keep]

    def _decisions(self, table: pa.Table, released: pa.Table, verified: np.ndarray, jac: np.ndarray, estimated: np.ndarray, n: int, m: int, thresholds: np.ndarray) -> pa.Table:
        docs = table.select(["id", "priority", "quality", "length"]).append_column("released", to_arrow(np.zeros(n, dtype=bool), pa.bool_()))
        if m:
            rel = pa.table(
                {
                    "id": released.column("id"),
                    "priority": pa.nulls(m, pa.int64()).fill_null(-(1 << 62)),
                    "quality": pa.nulls(m, pa.float64()),
                    "length": to_arrow(np.zeros(m, dtype=np.int64), pa.int64()),
                    "released": to_arrow(np.ones(m, dtype=bool), pa.bool_()),
                }
            )
            docs = pa.concat_tables([docs, rel.cast(docs.schema)])
        labels = components(n + m, verified)
        # Each document's highest verified Jaccard (whether it is an estimate, and the threshold of
        # that pair: the higher of its two documents'), for the ledger.
        best = np.full(n + m, -1.0)
        best_estimated = np.zeros(n + m, dtype=bool)
        best_threshold = np.full(n + m, np.nan)
        if verified.size and not np.isnan(jac).all():
            lo, hi = unpack(verified)
            ends = np.concatenate([lo, hi])
            pair_t = np.maximum(thresholds[lo], thresholds[hi])
            js, est, ts = np.concatenate([jac, jac]), np.concatenate([estimated, estimated]), np.concatenate([pair_t, pair_t])
            order = np.lexsort((est, -js, ends))  # per document: highest, exact before estimated
            first = np.ones(order.size, dtype=bool)
            first[1:] = ends[order][1:] != ends[order][:-1]
            top = order[first]
            best[ends[top]], best_estimated[ends[top]], best_threshold[ends[top]] = js[top], est[top], ts[top]
        kk = clusters_and_keepers(docs, labels)
        doc = kk.column("doc").to_numpy()
        keeper = kk.column("keeper").to_numpy()
        drop = (doc != keeper) & (doc < n)
        doc, keeper = doc[drop], keeper[drop]
        order = np.argsort(doc)
        doc, keeper = doc[order], keeper[order]
        ids = docs.column("id")
        keeper_ids = ids.take(to_arrow(keeper, pa.int64()))
        reasons = np.where(keeper >= n, REASON_RELEASED, REASON)
        self.stats["dropped"] = int(doc.size)
        self.stats["dropped_released"] = int((keeper >= n).sum())
        scored = best[doc] >= 0
        return decision_table(
            {
                "id": ids.take(to_arrow(doc, pa.int64())),
                "reason": pa.array(reasons.tolist(), pa.string()),
                "duplicate_of": keeper_ids,
                "cluster_id": keeper_ids,
                # "jaccard ~0.93": settled on one-byte sketches (an estimate); the score column holds the value.
                "detail": pa.array(
                    [(f"jaccard ~{j:.2f}" if e else f"jaccard {j:.2f}") if j >= 0 else None for j, e in zip(best[doc].tolist(), best_estimated[doc].tolist())],
                    pa.string(),
                ),
                "score": pa.array(np.where(scored, best[doc], np.nan), pa.float64(), from_pandas=True),
                "threshold": pa.array(np.where(scored, best_threshold[doc], np.nan), pa.float64(), from_pandas=True),
            }
        )

    def _side_path(self) -> Path:
        """Per-document side file of ``decide``. With a run work directory its name is fixed, so a
        resumed run (whose decision unit was already done) still finds it for ``release_files``."""
        if self.context.workdir:
            return Path(self.context.workdir) / f"{self.name}-{self.version}-docs.parquet"
        fd, name = tempfile.mkstemp(prefix="minhash-docs-", suffix=".parquet")
        os.close(fd)
        return Path(name)

    def _signature_path(self) -> Path:
        """The decide's signature file (:data:`SIGNATURE_COLUMNS`, Arrow IPC). With a run work
        directory its name is fixed, so a resumed run (whose decision unit was already done) still
        finds it for ``release_files``."""
        if self.context.workdir:
            return Path(self.context.workdir) / f"{self.name}-{self.version}-signatures.arrow"
        fd, name = tempfile.mkstemp(prefix="minhash-signatures-", suffix=".arrow")
        os.close(fd)
        return Path(name)

    def release_files(self, out_dir: Path, kept_ids: pa.Array) -> list[dict[str, Any]]:
        """Write the signature index of the released (kept) documents for later incremental runs."""
        if self._index_path is None and self.opts.write_index and self.context.workdir:
            self._index_path = self._signature_path()  # decided in an earlier (interrupted) process
            if not self._index_path.exists() and self._side_path().exists():
                self._index_path = self._side_path()  # decided by a version that kept them in the Parquet side file
        if self._index_path is None or not self._index_path.exists():
            return []
        import json

        # The kept mask comes from one `is_in` over the id column: `is_in` builds its hash set of
        # `kept_ids` on every call, and once per batch (``INDEX_BATCH_ROWS``) that was 8 % of a whole run's
        # CPU on the 20 MB sample (1.2 CPU-s; quadratic in the corpus: batches × kept ids).
        cols = list(SIGNATURE_COLUMNS)
        if self._index_path.suffix == ".arrow":
            # The id column alone from the memory map (~20 bytes a document), then each batch's
            # kept rows copied out: the signatures of dropped documents are never read (reading
            # them all out of the Parquet side file was 1.5-2.1 s on the 20 MB sample).
            reader = _signature_reader(self._index_path)
            kept = pc.is_in(reader.read_all().column("id"), value_set=kept_ids).combine_chunks()
            schema = reader.schema
            parts, at = [], 0
            for i in range(reader.num_record_batches):
                b = reader.get_batch(i)
                mask = kept.slice(at, b.num_rows)
                if mask.true_count:
                    parts.append(b.filter(mask))
                at += b.num_rows
            del reader
        else:  # filtered a batch at a time: every document's signature (~0.5 KB each, ~0.4 GB on the 84 MB corpus)
            side = pq.ParquetFile(self._index_path)
            kept = pc.is_in(side.read(columns=["id"], use_threads=False).column("id"), value_set=kept_ids).combine_chunks()
            schema = pa.schema([side.schema_arrow.field(c) for c in cols])
            parts, at = [], 0
            for b in side.iter_batches(batch_size=INDEX_BATCH_ROWS, columns=cols, use_threads=False):
                parts.append(b.filter(kept.slice(at, b.num_rows)))
                at += b.num_rows
        t = pa.Table.from_batches(parts, schema=schema)
        # The decide writes its rows in ingest order, so ``order`` already ascends: sorting
        # anyway gathered every kept signature (0.47 of 1.7 CPU-s of the release with 182,006
        # kept documents, 20 MB sample, 2026-12-08). Sorted only when it does not ascend; else
        # one chunk per column, as the sort made them — the Parquet writer cuts its pages by
        # the chunks it is handed, so several chunks would change the published index's bytes.
        t = t.combine_chunks() if strictly_ascending(t.column("order")) else t.sort_by([("order", "ascending")])
        # The published index keeps a list<uint32> per document: what a datasketch user reads.
        sig = _matrix(t.column("signature"), self.opts.num_perm)
        t = t.set_column(2, "signature", pa.FixedSizeListArray.from_arrays(to_arrow(sig.ravel(), pa.uint32()), self.opts.num_perm))
        meta = {b"corpusmill.minhash": json.dumps(self.opts.shingle_view(), sort_keys=True).encode()}
        t = t.replace_schema_metadata(meta)
        path = out_dir / INDEX_PATH
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(t, path, compression="zstd")
        # The signature file stays in the run's work directory (removed with it after success), so
        # a run killed after this point still finds it when resumed.
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        return [{"path": INDEX_PATH, "sha256": digest, "bytes": path.stat().st_size, "rows": t.num_rows}]


def parse_options(options: Mapping[str, Any] | None) -> MinHashOptions:
    """The stage's options, validated (a :class:`ConfigError` names the bad key)."""
    opts = MinHashDedup.parse_options(options)
    assert isinstance(opts, MinHashOptions)
    return opts
