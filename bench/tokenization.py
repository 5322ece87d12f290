"""``corpusmill tokenize`` against the raw limit and against datatrove, side by side in one run.

* raw limit: HF ``tokenizers`` ``encode_batch`` (and ``encode_batch_fast``) over the same texts
  already in memory, batches of 1,024, the same threads — no reading, no writing;
* ours: the real CLI in a subprocess, end to end (read and sha256-check the catalog's shards,
  encode, write ``.bin/.idx`` and side tables, hash, publish the manifest);
* datatrove: ``DocumentTokenizer`` (no shuffling, batch 1,024) over the same texts and tokenizer,
  Documents already in memory;
* peak RSS of our subprocess tree at 1× and 4× the shared-deliveries corpus (the 4× manifest
  is the 1× one with every document four times under new ids), sampled every 0.1 s.

The corpus is the curated run of pipelines/configs/shared-deliveries.yaml (normalize, length,
exact dedup), built once into ``--work`` unless ``--catalog``/``--manifest`` name one; the
tokenizer a 32k byte-level BPE trained on it by ``corpusmill tokenizer train``.

    nice -n 5 .venv/bin/python bench/tokenization.py --work /tmp/bench-tokenize
"""

from __future__ import annotations

import os
import sys

import argparse
import json
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import psutil
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CLI = [sys.executable, "-m", "pipelines.cli"]
BATCH = 1024


def run_measured(cmd: list[str], env: dict[str, str]) -> tuple[subprocess.CompletedProcess, float, int]:
    """(result, seconds, peak RSS bytes of the process tree)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        p = psutil.Process(proc.pid)
        while not stop.is_set():
            try:
                rss = sum(x.memory_info().rss for x in [p, *p.children(recursive=True)])
                peak = max(peak, rss)
            except psutil.Error:
                pass
            time.sleep(0.1)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    out, err = proc.communicate()
    secs = time.perf_counter() - t0
    stop.set()
    th.join()
    res = subprocess.CompletedProcess(cmd, proc.returncode, out, err)
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{err}")
    return res, secs, peak


def scaled_manifest(catalog: str, mid: str, k: int, work: Path) -> str:
    """Publish a copy of ``mid`` with every document ``k`` times (ids suffixed ``~r``)."""
    from manifests.catalog import Catalog
    from manifests.manifest import seal
    from corpusmill_base.hashing import sha256_file

    cat = Catalog(catalog)
    m = cat.get(mid)
    run = work / f"x{k}"
    (run / "shards").mkdir(parents=True, exist_ok=True)
    shards = []
    for s in m["shards"]:
        t = pq.read_table(cat.data_path(mid, s["path"]))
        for r in range(k):
            rel = f"{s['path'][:-8]}-r{r}.parquet"
            tt = t.set_column(t.schema.get_field_index("id"), "id", pc.binary_join_element_wise(t.column("id"), pa.scalar(f"~{r}"), ""))
            pq.write_table(tt, run / rel, compression="zstd")
            shards.append({"path": rel, "sha256": sha256_file(run / rel), "bytes": (run / rel).stat().st_size, "rows": tt.num_rows})
    led = pq.read_table(cat.data_path(mid, m["ledger"]["path"]))
    parts = [led.set_column(led.schema.get_field_index("id"), "id", pc.binary_join_element_wise(led.column("id"), pa.scalar(f"~{r}"), "")) for r in range(k)]
    pq.write_table(pa.concat_tables(parts), run / "ledger.parquet", compression="zstd")
    sources = []
    for s in m["sources"]:
        c = s["counts"]
        sources.append(s | {"counts": c | {k2: c[k2] * k for k2 in ("records_in", "kept", "dropped", "quarantined")}})
    new = {x: y for x, y in m.items() if x not in ("id", "content_digest")} | {
        "name": f"{m['name']}-x{k}", "sources": sources, "shards": shards,
        "totals": {x: y * k for x, y in m["totals"].items()},
        "ledger": {"path": "ledger.parquet", "sha256": sha256_file(run / "ledger.parquet"),
                   "bytes": (run / "ledger.parquet").stat().st_size, "rows": led.num_rows * k}}
    new.pop("indexes", None)
    sealed = seal(new)
    cat.publish(run, sealed)
    return sealed["id"]


def texts_of(catalog: str, mid: str) -> list[str]:
    from manifests.catalog import Catalog

    cat = Catalog(catalog)
    out: list[str] = []
    for s in cat.get(mid)["shards"]:
        out += pq.read_table(cat.data_path(mid, s["path"]), columns=["text"]).column("text").to_pylist()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default=tempfile.mkdtemp(prefix="bench-tokenize-"))
    ap.add_argument("--catalog", help="catalog holding --manifest (default: build one in --work)")
    ap.add_argument("--manifest")
    ap.add_argument("--vocab-size", type=int, default=32000)
    ap.add_argument("--scales", type=int, nargs="+", default=[1, 4])
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    catalog = args.catalog or str(work / "catalog")
    env = {**os.environ, "CORPUSMILL_CATALOG": catalog, "PYTHONPATH": str(ROOT)}
    mid = args.manifest
    if not mid:
        res = subprocess.run([*CLI, "-q", "run", str(ROOT / "pipelines/configs/shared-deliveries.yaml"), "--out", str(work / "run"),
                              "--catalog", catalog], env=env, capture_output=True, text=True, cwd=ROOT, check=True)
        mid = res.stdout.strip().splitlines()[-1]
    tok_path = work / "tokenizer" / "tokenizer.json"
    if not tok_path.exists():
        subprocess.run([*CLI, "tokenizer", "train", mid, "--vocab-size", str(args.vocab_size), "--out", str(tok_path),
                        "--sample-chars", "5000000", "--allow-unapproved"], env=env, check=True, cwd=ROOT, capture_output=True)

    from tokenizers import Tokenizer

    texts = texts_of(catalog, mid)
    chars = sum(map(len, texts))
    tok = Tokenizer.from_file(str(tok_path))
    tok.encode_special_tokens = True
    rows: list[tuple[str, int, float]] = []

    def note(what: str) -> None:  # progress on stderr, so a long run on a loaded machine shows where it is
        print(f"[{time.strftime('%H:%M:%S')}] {what}", file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    n = 0
    for i in range(0, len(texts), BATCH):
        n += sum(len(e.ids) + 1 for e in tok.encode_batch(texts[i:i + BATCH], add_special_tokens=False))
    rows.append(("HF encode_batch, in memory (the raw limit)", n, time.perf_counter() - t0))
    t0 = time.perf_counter()
    n = 0
    for i in range(0, len(texts), BATCH):
        n += sum(len(e.ids) + 1 for e in tok.encode_batch_fast(texts[i:i + BATCH], add_special_tokens=False))
    rows.append(("HF encode_batch_fast, in memory", n, time.perf_counter() - t0))
    note(f"raw limit: {rows[0][1]:,} tokens in {rows[0][2]:.1f} s")

    rss = {}
    for k in args.scales:
        target = mid if k == 1 else scaled_manifest(catalog, mid, k, work)
        res, secs, peak = run_measured([*CLI, "-q", "tokenize", target, "--tokenizer", str(tok_path), "--out", str(work / f"tok-x{k}"),
                                        "--allow-unapproved"], env)
        m = json.loads(Path(work / f"tok-x{k}" / "manifest.json").read_text())
        rss[k] = (peak, m["tokens"]["total"], secs)
        note(f"tokenize {k}×: {m['tokens']['total']:,} tokens in {secs:.1f} s, peak RSS {peak / 2**20:,.0f} MiB")
        if k == 1:
            rows.append(("corpusmill tokenize (catalog → .bin/.idx + manifest)", m["tokens"]["total"], secs))

    from datatrove.data import Document
    from datatrove.pipeline.tokens.tokenizer import DocumentTokenizer

    docs = [Document(text=t, id=str(i)) for i, t in enumerate(texts)]
    dt_out = work / "datatrove"
    step = DocumentTokenizer(str(dt_out), tokenizer_name_or_path=str(tok_path), eos_token="<|endoftext|>", batch_size=BATCH,
                             shuffle_documents=False, save_final_metadata=False)
    t0 = time.perf_counter()
    step.run(iter(docs), rank=0, world_size=1)
    secs = time.perf_counter() - t0
    dt_tokens = sum(f.stat().st_size for f in dt_out.glob("*.ds")) // 2
    rows.append(("datatrove DocumentTokenizer (in-memory Documents)", dt_tokens, secs))

    limit = rows[0][1] / rows[0][2]
    print(f"corpus: {len(texts):,} documents, {chars:,} chars; tokenizer vocab {args.vocab_size:,}; {os.cpu_count()} CPUs; "
          f"load {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    print(f"{'':<56}{'tokens':>14}{'seconds':>10}{'tokens/s':>14}{'× raw limit time':>18}")
    for name, toks, s in rows:
        print(f"{name:<56}{toks:>14,}{s:>10.2f}{toks / s:>14,.0f}{(toks / limit) and s / (toks / limit):>18.2f}")
    ours = rows[2]
    print(f"corpusmill vs datatrove: {(ours[1] / ours[2]) / (dt_tokens / secs):.2f}× the tokens/s")
    for k, (peak, toks, s) in rss.items():
        print(f"peak RSS at {k}× ({toks:,} tokens, {s:.1f} s): {peak / 2**20:,.0f} MiB")


if __name__ == "__main__":
    main()
