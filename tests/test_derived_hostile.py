"""A trainer's and a legal reviewer's failure paths of tokenize, mix, pull and the loaders (session 13).

Each test fails on the code before its fix; the catalog is the catalog tests' signed run of the
bundled sample (tests/catalog_fixtures.py), copied per test.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
import yaml

from corpusmill_base.errors import ConfigError
from tests.catalog_cli import cm

pytest_plugins = ["tests.catalog_fixtures"]


def last_line(res) -> str:
    return res.stdout.strip().splitlines()[-1]


def one_line_error(*args: str, code: int = 2) -> str:
    res = cm(*args, check=False)
    assert res.returncode == code, res
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    return lines[0]


def tokenized(env, tok: Path, out: Path) -> str:
    return last_line(cm("tokenize", env.mid, "--tokenizer", str(tok), "--out", str(out), "--allow-unapproved"))


def mix_file(path: Path, tid: str) -> Path:
    doc = {"name": "m", "purpose": {"description": "open model", "uses": ["pretraining"]},
           "inputs": [{"manifest": tid, "weight": 1.0}], "validation": {"fraction": 0.1}}
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def test_mix_never_deletes_a_folder_that_is_not_its_own(env, tiny_tokenizer, tmp_path):
    """`mix --out DIR` replaced DIR whole: `--out .` or a folder of the user's was deleted."""
    tid = tokenized(env, tiny_tokenizer, tmp_path / "tok")
    mix = mix_file(tmp_path / "m.yaml", tid)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.txt").write_text("keep me")
    for extra in ((), ("--dry-run",)):
        msg = one_line_error("mix", str(mix), "--out", str(mine), "--allow-unapproved", *extra)
        assert "not a mix output" in msg and "nothing was changed" in msg
        assert (mine / "thesis.txt").read_text() == "keep me"
    # Its own output (and an empty folder) is still replaced: a re-run gives the same ID.
    (tmp_path / "empty").mkdir()
    first = last_line(cm("mix", str(mix), "--out", str(tmp_path / "empty"), "--allow-unapproved"))
    assert last_line(cm("mix", str(mix), "--out", str(tmp_path / "empty"), "--allow-unapproved")) == first
    # A blend's manifest.json alone is no proof: a pulled blend has one, beside the trainer's own files
    # (review, session 13: the checkpoint below was deleted).
    pulled = tmp_path / "train"
    cm("pull", first, "--to", str(pulled), "--allow-unapproved")
    (pulled / "checkpoints").mkdir()
    (pulled / "checkpoints" / "step1000.pt").write_text("weights")
    assert "not a mix output" in one_line_error("mix", str(mix), "--out", str(pulled), "--allow-unapproved")
    assert (pulled / "checkpoints" / "step1000.pt").read_text() == "weights"


def test_revoking_a_release_refuses_what_was_built_from_it(env, tiny_tokenizer, tmp_path):
    """A revoked curated manifest's text leaves the catalog; its tokenized copy and the blends
    built from it were still pulled (and mixed) as approved."""
    from manifests import loaders
    from manifests.derived import TakenDown

    cm("review", "approve", env.mid, "--comment", "ok")
    tid = last_line(cm("tokenize", env.mid, "--tokenizer", str(tiny_tokenizer), "--out", str(tmp_path / "tok")))
    cm("review", "approve", tid, "--comment", "ok")
    bid = last_line(cm("mix", str(mix_file(tmp_path / "m.yaml", tid)), "--out", str(tmp_path / "mix")))
    cm("review", "approve", bid, "--comment", "ok")
    cm("pull", bid, "--to", str(tmp_path / "before"))
    out = cm("review", "revoke", env.mid, "--comment", "the licence was never valid").stdout
    assert f"derived tokenized manifest {tid}" in out and f"derived blend manifest {bid}" in out
    assert "{r.manifest_id}" not in out
    for mid in (bid, tid):
        msg = one_line_error("pull", mid, "--to", str(tmp_path / f"after-{mid}"))
        assert f"{env.mid}, which was revoked" in msg and "review history" in msg
        assert not (tmp_path / f"after-{mid}").exists()
        with pytest.raises(TakenDown):
            loaders.open(mid, str(env.catalog))
    assert f"{env.mid}, which was revoked" in one_line_error("mix", str(tmp_path / "m.yaml"), "--out", str(tmp_path / "mix2"))
    assert f"AFFECTED: built from revoked {env.mid}" in cm("manifest", "lineage", env.mid).stdout


@pytest.mark.parametrize("content", ["[]", "null", '"eos"'])
def test_a_tokenizer_config_that_is_not_an_object_is_one_line(env, tiny_tokenizer, tmp_path, content):
    folder = tmp_path / "tok"
    folder.mkdir()
    (folder / "tokenizer.json").write_bytes(tiny_tokenizer.read_bytes())
    (folder / "tokenizer_config.json").write_text(content)
    for extra in ((), ("--dry-run",)):
        msg = one_line_error("tokenize", env.mid, "--tokenizer", str(folder), "--allow-unapproved", "--out", str(tmp_path / "t"), *extra)
        assert "tokenizer_config.json: not a JSON object" in msg
    assert not (tmp_path / "t").exists()


def test_loaders_read_a_manifest_whose_every_document_was_taken_down(env, tmp_path):
    """The successor of a takedown of everything has no shards: `load_hf` raised datasets'
    "At least one valid data file must be specified", `open` returned a dataset of no columns."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    import manifests

    ledger = pq.read_table(env.catalog / "data" / env.mid / "ledger.parquet", columns=["id", "outcome"])
    kept = ledger.filter(pc.equal(ledger.column("outcome"), "kept")).column("id").to_pylist()
    (tmp_path / "all.txt").write_text("\n".join(kept) + "\n")
    succ = last_line(cm("takedown", env.mid, "--doc-ids", str(tmp_path / "all.txt"), "--reason", "consent withdrawn"))
    cm("review", "approve", succ, "--comment", "empty, on purpose")
    assert env.cat.get(succ)["shards"] == []
    table = manifests.open(succ, str(env.catalog)).to_table(columns=["id", "text"])
    assert table.num_rows == 0 and table.schema.field("text").type == "string"
    hf = manifests.load_hf(succ, str(env.catalog))
    assert hf.num_rows == 0 and {"id", "text", "source_id"} <= set(hf.column_names)
    assert list(manifests.iter_shard(succ, 0, 2, str(env.catalog))) == []
    assert "0 documents" in cm("pull", succ, "--to", str(tmp_path / "p")).stdout


def test_a_pulled_manifest_without_documents_reads_through_a_shards_glob(env, tmp_path):
    """A pull of the successor of a takedown of everything wrote no `shards/` folder, so DuckDB's
    `read_parquet('DEST/shards/*.parquet')` and polars' `scan_parquet` failed ("no files found");
    now the pull writes one Parquet file of no rows with the manifest's columns (its ID unchanged)."""
    import duckdb
    import polars as pl
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    ledger = pq.read_table(env.catalog / "data" / env.mid / "ledger.parquet", columns=["id", "outcome"])
    kept = ledger.filter(pc.equal(ledger.column("outcome"), "kept")).column("id").to_pylist()
    (tmp_path / "all.txt").write_text("\n".join(kept) + "\n")
    succ = last_line(cm("takedown", env.mid, "--doc-ids", str(tmp_path / "all.txt"), "--reason", "consent withdrawn"))
    manifest = env.cat.get(succ)
    assert manifest["shards"] == []
    columns = [c["name"] for c in manifest["document_schema"]]
    dest = tmp_path / "p"
    for _ in range(2):  # a re-pull into the same folder finds the file its own, not someone's
        assert "0 documents" in cm("pull", succ, "--to", str(dest), "--allow-unapproved").stdout
        glob = str(dest / "shards" / "*.parquet")
        rel = duckdb.sql(f"SELECT * FROM read_parquet('{glob}')")
        assert rel.columns == columns and rel.fetchall() == []
        frame = pl.scan_parquet(glob).collect()
        assert frame.columns == columns and frame.height == 0
    assert env.cat.get(succ)["id"] == succ


def test_mix_dry_run_makes_the_checks_of_the_real_run(env, tiny_tokenizer, tmp_path):
    """`mix --dry-run` said "valid" without hashing the inputs' .bin/.idx or checking
    budget_tokens: only the real run found a damaged input or a budget it cannot plan."""
    tid = tokenized(env, tiny_tokenizer, tmp_path / "tok")
    out = tmp_path / "mix"
    plain = mix_file(tmp_path / "m.yaml", tid)
    assert "legal gate" in cm("mix", str(plain), "--out", str(out), "--allow-unapproved", "--dry-run").stdout
    doc = yaml.safe_load(plain.read_text())
    doc["inputs"] = [{"manifest": tid, "epochs": 2.0}]
    doc["budget_tokens"] = 1000
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(doc))
    budget = "budget_tokens needs at least one input with a weight"
    assert budget in one_line_error("mix", str(tmp_path / "b.yaml"), "--out", str(out), "--allow-unapproved", "--dry-run")
    dataset = env.cat.get(tid)["megatron"]["datasets"][0]
    for key in ("bin", "idx"):
        target = env.catalog / "data" / tid / dataset[key]["path"]
        good = target.read_bytes()
        target.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
        msg = one_line_error("mix", str(plain), "--out", str(out), "--allow-unapproved", "--dry-run", code=3)
        assert f"{dataset[key]['path']} has sha256" in msg
        target.write_bytes(good)
    assert not out.exists()
    assert budget in one_line_error("mix", str(tmp_path / "b.yaml"), "--out", str(out), "--allow-unapproved")  # as the real run


def test_tokenizer_train_never_replaces_a_config_it_did_not_write(env, tmp_path):
    """`tokenizer train --out DIR/tokenizer.json` replaced DIR/tokenizer_config.json (a model
    folder's own, with its chat template and BOS) without a word."""
    model = tmp_path / "model"
    model.mkdir()
    theirs = '{"bos_token": "<s>", "chat_template": "{{ messages }}"}\n'
    (model / "tokenizer_config.json").write_text(theirs)
    args = ("tokenizer", "train", env.mid, "--vocab-size", "300", "--allow-unapproved")
    msg = one_line_error(*args, "--out", str(model / "tokenizer.json"))
    assert "tokenizer_config.json already exists" in msg and "nothing was trained" in msg
    assert (model / "tokenizer_config.json").read_text() == theirs and not (model / "tokenizer.json").exists()
    # Its own output is not refused: the same training again writes the same files.
    for _ in range(2):
        cm(*args, "--out", str(tmp_path / "mine" / "tokenizer.json"))


def test_quiet_run_tokenize_and_mix_print_only_the_manifest_id(env, tiny_tokenizer, tmp_path):
    """`-q` promises no summaries; `corpusmill -q run` still printed the run's summary (and
    `tokenize`/`mix` their token reports) on stdout, so `ID=$(corpusmill -q run …)` got them all."""
    from tests.catalog_cli import CONFIG

    res = cm("-q", "run", str(CONFIG), "--out", str(tmp_path / "run"))
    assert len(res.stdout.splitlines()) == 1 and res.stdout.startswith("cm-") and res.stderr == ""
    res = cm("-q", "tokenize", env.mid, "--tokenizer", str(tiny_tokenizer), "--out", str(tmp_path / "tok"), "--allow-unapproved")
    tid = res.stdout.strip()
    assert res.stdout == f"{tid}\n" and tid.startswith("cm-") and res.stderr == ""
    res = cm("-q", "mix", str(mix_file(tmp_path / "m.yaml", tid)), "--out", str(tmp_path / "mix"), "--allow-unapproved")
    assert res.stdout.count("\n") == 1 and res.stdout.startswith("cm-")


def test_mix_dry_run_counts_inputs_not_sources(env, tiny_tokenizer, tmp_path):
    """`mix --dry-run` said "4 input(s)" of a mix file with one input (a manifest of 4 sources)."""
    tid = tokenized(env, tiny_tokenizer, tmp_path / "tok")
    sources = len(env.cat.get(tid)["megatron"]["datasets"])
    assert sources > 1
    out = cm("mix", str(mix_file(tmp_path / "m.yaml", tid)), "--allow-unapproved", "--dry-run").stdout
    assert f"1 input(s) ({sources} sources)" in out


def test_a_pull_over_another_leaves_no_empty_folders(env, tiny_tokenizer, tmp_path):
    """A curated manifest pulled where a tokenized one was removed its files but left their
    folders (`megatron/…`) behind, empty."""
    tid = tokenized(env, tiny_tokenizer, tmp_path / "tok")
    dest = tmp_path / "p"
    cm("pull", tid, "--to", str(dest), "--allow-unapproved")
    (dest / "notes").mkdir()  # a folder of the trainer's own stays
    cm("pull", env.mid, "--to", str(dest), "--allow-unapproved")
    empty = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_dir() and not any(p.iterdir()))
    assert empty == ["notes"]
    assert (dest / "shards").is_dir()


def test_tokenize_and_mix_sign_what_they_publish(env, tiny_tokenizer, tmp_path):
    """A run and a takedown sign their manifest when a key is configured; tokenize and mix did
    not, so every tokenized dataset and blend was 'verified without a producer signature'."""
    from manifests import review

    tid = tokenized(env, tiny_tokenizer, tmp_path / "tok")
    bid = last_line(cm("mix", str(mix_file(tmp_path / "m.yaml", tid)), "--out", str(tmp_path / "mix"), "--allow-unapproved"))
    for mid in (tid, bid):
        v = review.verify(env.cat, mid)
        assert v.signed and v.ok, v.problems


def test_a_reviewer_sees_and_cannot_approve_data_built_from_a_revoked_release(env, tiny_tokenizer, tmp_path):
    """`review approve` took a tokenized manifest built from a revoked release, and its audit
    said only "approved, verified"."""
    import json

    tid = tokenized(env, tiny_tokenizer, tmp_path / "tok")
    cm("review", "approve", env.mid, "--comment", "ok")
    cm("review", "revoke", env.mid, "--comment", "the licence was never valid")
    msg = one_line_error("review", "approve", tid, "--comment", "looks fine")
    assert f"{env.mid}, which was revoked" in msg
    from manifests import review

    assert review.replay(env.cat, env.cat.get(tid)).state == review.DRAFT
    cm("audit", tid, "--out", str(tmp_path / "a.json"))
    built = json.loads((tmp_path / "a.json").read_text())["built_from"]
    assert built["parents"] == [env.mid] and built["affected_by"][0]["ancestor"] == env.mid
    cm("audit", tid, "--out", str(tmp_path / "a.html"))
    assert f"Built from {env.mid}, which was revoked" in (tmp_path / "a.html").read_text()


@pytest.mark.parametrize("state", ["garbage", "[]", '{"key": "x"}', ""])
def test_tokenize_over_a_damaged_resume_state_starts_over(env, tiny_tokenizer, tmp_path, state):
    fresh = tokenized(env, tiny_tokenizer, tmp_path / "fresh")
    out = tmp_path / "t"
    (out / "work").mkdir(parents=True)
    (out / ".corpusmill-tokenize").touch()
    (out / "work" / "state.json").write_text(state)
    dry = cm("tokenize", env.mid, "--tokenizer", str(tiny_tokenizer), "--out", str(out), "--allow-unapproved", "--dry-run")
    assert "Traceback" not in dry.stderr
    assert tokenized(env, tiny_tokenizer, out) == fresh


@pytest.mark.parametrize(("key", "value"), [("weight", True), ("weight", "2"), ("epochs", "yes"), ("budget_tokens", True),
                                            ("budget_tokens", "1000")])
def test_a_mix_number_that_is_not_a_number_is_refused(env, tmp_path, key, value):
    """`weight: yes` (YAML's true) was taken as weight 1, a quoted "2" as 2.0."""
    doc = {"name": "m", "purpose": {"description": "x", "uses": ["pretraining"]},
           "inputs": [{"manifest": "cm-0123456789abcdef", "weight": 1.0}]}
    if key == "budget_tokens":
        doc[key] = value
    else:
        doc["inputs"][0].pop("weight")
        doc["inputs"][0][key] = value
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(doc))
    msg = one_line_error("mix", str(tmp_path / "m.yaml"), "--dry-run")
    assert key in msg and "valid" in msg


def test_croissant_of_a_pulled_dataset_and_blend_is_read_by_mlcroissant(env, tiny_tokenizer, tmp_path):
    """The FileSet said shards/*.parquet, which no side table of a derived manifest matches:
    mlcroissant read 0 records; the .bin/.idx a trainer reads were not listed with their sha256."""
    import json

    import mlcroissant as mlc

    tid = tokenized(env, tiny_tokenizer, tmp_path / "tok")
    bid = last_line(cm("mix", str(mix_file(tmp_path / "m.yaml", tid)), "--out", str(tmp_path / "mix"), "--allow-unapproved"))
    for mid in (tid, bid):
        m = env.cat.get(mid)
        dest = tmp_path / f"pulled-{mid}"
        cm("pull", mid, "--to", str(dest), "--allow-unapproved")
        cm("export", "croissant", mid, "--out", str(dest / "croissant.json"))
        doc = json.loads((dest / "croissant.json").read_text())
        listed = {d["contentUrl"]: d["sha256"] for d in doc["distribution"] if d["@type"] == "cr:FileObject"}
        for d in m["megatron"]["datasets"]:
            assert listed[d["bin"]["path"]] == d["bin"]["sha256"] and listed[d["idx"]["path"]] == d["idx"]["sha256"]
        assert {"@type": "prov:Entity", "@id": m["parents"][0], "name": f"corpusmill manifest {m['parents'][0]}"} in doc["prov:wasDerivedFrom"]
        ds = mlc.Dataset(jsonld=str(dest / "croissant.json"))
        assert sum(1 for _ in ds.records("documents")) == sum(d["sequences"] for d in m["megatron"]["datasets"]) > 0


def test_takedown_reads_an_id_list_exported_by_a_spreadsheet(env, tmp_path):
    """Excel's "CSV UTF-8" export: a byte-order mark and CRLF line ends."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    ledger = pq.read_table(env.catalog / "data" / env.mid / "ledger.parquet", columns=["id", "outcome"])
    kept = ledger.filter(pc.equal(ledger.column("outcome"), "kept")).column("id").to_pylist()[:3]
    (tmp_path / "ids.csv").write_bytes(b"\xef\xbb\xbf" + "".join(f"{i}\r\n" for i in kept).encode())
    out = cm("takedown", env.mid, "--doc-ids", str(tmp_path / "ids.csv"), "--reason", "erasure request", "--dry-run").stdout
    assert "remove 3 document(s)" in out


def test_mix_refuses_inputs_tokenized_with_different_special_tokens(env, tiny_tokenizer, tmp_path):
    """The same tokenizer file with and without --add-bos was blended silently (the blend's
    manifest recorded the first input's policy)."""
    plain = tokenized(env, tiny_tokenizer, tmp_path / "plain")
    bos = last_line(cm("tokenize", env.mid, "--tokenizer", str(tiny_tokenizer), "--bos", "<|pad|>", "--add-bos",
                       "--out", str(tmp_path / "bos"), "--allow-unapproved"))
    doc = {"name": "m", "purpose": {"description": "x", "uses": ["pretraining"]},
           "inputs": [{"manifest": plain, "source": "ko_reviews", "weight": 1.0}, {"manifest": bos, "source": "ko_statutes", "weight": 1.0}]}
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(doc))
    for extra in (("--dry-run",), ()):
        msg = one_line_error("mix", str(tmp_path / "m.yaml"), "--allow-unapproved", "--out", str(tmp_path / "mix"), *extra)
        assert "different special tokens" in msg and "BOS id" in msg
    assert not (tmp_path / "mix").exists()


def test_a_refused_pull_says_the_folder_still_holds_an_earlier_pull(env, tiny_tokenizer, tmp_path):
    """Revoke after pull: the re-run pull was refused without a word about the revoked documents
    still in the folder the training job reads."""
    cm("review", "approve", env.mid, "--comment", "ok")
    tid = last_line(cm("tokenize", env.mid, "--tokenizer", str(tiny_tokenizer), "--out", str(tmp_path / "tok")))
    cm("review", "approve", tid, "--comment", "ok")
    cm("pull", tid, "--to", str(tmp_path / "train"))
    cm("pull", env.mid, "--to", str(tmp_path / "text"))
    cm("review", "revoke", env.mid, "--comment", "contract ended")
    for mid, folder in ((env.mid, "text"), (tid, "train")):  # revoked itself; built from a revoked release
        for extra in ((), ("--dry-run",)):
            msg = one_line_error("pull", mid, "--to", str(tmp_path / folder), *extra)
            assert f"{tmp_path / folder} still holds its files from an earlier pull" in msg
        assert "still holds" not in one_line_error("pull", mid, "--to", str(tmp_path / "elsewhere"))


@pytest.mark.parametrize("content", ["", "\n\n# only a comment\n"])
def test_takedown_of_an_id_file_without_ids_names_the_file(env, tmp_path, content):
    (tmp_path / "ids.txt").write_text(content)
    msg = one_line_error("takedown", env.mid, "--doc-ids", str(tmp_path / "ids.txt"), "--reason", "x")
    assert "ids.txt: no document ids in it" in msg


def test_tokenizer_train_checks_compare_before_training(env, tmp_path):
    msg = one_line_error("tokenizer", "train", env.mid, "--vocab-size", "300", "--out", str(tmp_path / "t" / "tok.json"),
                         "--compare", str(tmp_path / "nowhere"), "--allow-unapproved")
    assert "no tokenizer.json there" in msg
    assert not (tmp_path / "t").exists()  # nothing trained, nothing written


def test_mix_refuses_a_source_whose_contract_has_expired(env, tiny_tokenizer, tmp_path, monkeypatch):
    """A run refuses a source whose contract expired; a blend made after the expiry took it."""
    import datetime as dt

    from pipelines import mix

    tid = tokenized(env, tiny_tokenizer, tmp_path / "tok")
    expires = next(s["provenance"]["expires"] for s in env.cat.get(tid)["sources"] if s["provenance"].get("expires"))
    monkeypatch.setattr(mix, "contract_date", lambda: dt.date.fromisoformat(str(expires)[:10]) + dt.timedelta(days=1))
    for extra in (("--dry-run",), ()):
        msg = one_line_error("mix", str(mix_file(tmp_path / "m.yaml", tid)), "--allow-unapproved", "--out", str(tmp_path / "mix"), *extra)
        assert f"expired on {str(expires)[:10]}" in msg


def test_tokenize_refuses_a_source_whose_contract_has_expired(env, tiny_tokenizer, tmp_path, monkeypatch):
    import datetime as dt

    from pipelines import tokenize

    expires = next(s["provenance"]["expires"] for s in env.cat.get(env.mid)["sources"] if s["provenance"].get("expires"))
    monkeypatch.setattr(tokenize, "contract_date", lambda: dt.date.fromisoformat(str(expires)[:10]) + dt.timedelta(days=1))
    for extra in (("--dry-run",), ()):
        msg = one_line_error("tokenize", env.mid, "--tokenizer", str(tiny_tokenizer), "--out", str(tmp_path / "t"), "--allow-unapproved", *extra)
        assert f"expired on {str(expires)[:10]}" in msg and "corpusmill takedown" in msg
    assert not (tmp_path / "t").exists()


def test_a_second_pull_into_the_same_folder_waits_for_the_first(env, tmp_path):
    """Every node of a job running the same pull into a shared folder wrote the same .part files."""
    import fcntl
    import threading
    import time

    cm("review", "approve", env.mid, "--comment", "ok")
    dest = tmp_path / "shared"
    with _corpusmill_warnings() as warned, open(tmp_path / ".shared.pull.lock", "a+b") as held:  # another pull, writing
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        done: list = []
        t = threading.Thread(target=lambda: done.append(cm("pull", env.mid, "--to", str(dest))))
        t.start()
        time.sleep(1.0)
        assert t.is_alive() and not (dest / "manifest.json").exists()
        fcntl.flock(held.fileno(), fcntl.LOCK_UN)
        t.join(60)
    assert done and "verified" in done[0].stdout and (dest / "manifest.json").exists()
    assert any("another corpusmill pull is writing" in w for w in warned)  # it waited (not merely slow)


def test_a_file_system_without_locks_is_pulled_without_one(env, tmp_path, monkeypatch):
    """NFS without lockd, Lustre without -o flock, FUSE: flock fails with ENOLCK/ENOSYS/EOPNOTSUPP;
    the pull goes on without the lock, as before the lock existed, and says so (review, session 13)."""
    import errno
    import fcntl

    cm("review", "approve", env.mid, "--comment", "ok")

    def no_locks(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    with _corpusmill_warnings() as warned:
        res = cm("pull", env.mid, "--to", str(tmp_path / "nfs"))
    assert "verified" in res.stdout and (tmp_path / "nfs" / "manifest.json").exists()
    assert any("no lock on this file system" in w for w in warned)


@contextlib.contextmanager
def _corpusmill_warnings():
    import logging

    got: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            got.append(record.getMessage())

    log, handler = logging.getLogger("corpusmill"), Keep(logging.WARNING)
    log.addHandler(handler)
    try:
        yield got
    finally:
        log.removeHandler(handler)


def test_a_takedown_reason_without_presidio_is_refused_and_changes_nothing(env, monkeypatch):
    """Its masked bytes decide the successor's ID: masked by shape on an install without Presidio,
    the same takedown would give another successor. Refused, naming the reason, never quoting it."""
    from filters import pii_fields

    def no_presidio():
        raise ImportError("presidio_analyzer")

    monkeypatch.setattr(pii_fields, "_recognizers", no_presidio)
    before = sorted(p.relative_to(env.catalog) for p in env.catalog.rglob("*") if p.name != "index.sqlite")
    res = cm("takedown", env.mid, "--source", "ko_bills", "--reason", "erasure request, 010-1234-5678", check=False)
    assert res.returncode == 2 and "the takedown --reason looks like it holds personal data" in res.stderr, res.stderr
    assert "010-1234-5678" not in res.stderr
    assert sorted(p.relative_to(env.catalog) for p in env.catalog.rglob("*") if p.name != "index.sqlite") == before


def test_a_takedown_reason_naming_the_requester_is_masked_everywhere_it_goes(env, tmp_path):
    """An erasure request's reason names the requester; it reached the ledger's every removed
    row, the manifest's counts, the takedown list, the review record and the audit raw."""
    import json

    raw = "erasure request from kim.lee@example.com, 010-1234-5678"
    succ = last_line(cm("takedown", env.mid, "--source", "ko_bills", "--reason", raw))
    cm("audit", succ, "--out", str(tmp_path / "a.json"))
    cm("audit", env.mid, "--out", str(tmp_path / "old.json"))
    places = [env.catalog / "manifests" / f"{succ}.json", tmp_path / "a.json", tmp_path / "old.json",
              *(env.catalog / "takedowns").rglob("*.json"), *(env.catalog / "reviews").rglob("*.json")]
    for p in places:
        text = p.read_text()
        assert "kim.lee@example.com" not in text and "010-1234-5678" not in text, p
    assert "<EMAIL_ADDRESS>" in (env.catalog / "manifests" / f"{succ}.json").read_text()
    import pyarrow.parquet as pq

    reasons = set(pq.read_table(env.catalog / "data" / succ / "ledger.parquet", columns=["reason"]).column("reason").to_pylist())
    assert not any(r and "kim.lee" in r for r in reasons)
    assert json.loads((tmp_path / "a.json").read_text())


def test_a_review_comment_naming_a_person_is_masked(env, tmp_path):
    cm("review", "approve", env.mid, "--comment", "ok")
    out = cm("review", "revoke", env.mid, "--comment", "erasure request from kim.lee@example.com").stdout
    assert "kim.lee@example.com" not in out
    history = cm("review", "history", env.mid).stdout
    assert "kim.lee@example.com" not in history and "<EMAIL_ADDRESS>" in history
    assert not any("kim.lee@example.com" in p.read_text() for p in (env.catalog / "reviews").rglob("*.json"))


def test_notes_are_masked_without_presidio_too(monkeypatch):
    from filters import pii_fields
    from manifests import review

    def no_presidio():
        raise ImportError("presidio_analyzer")

    monkeypatch.setattr(pii_fields, "_recognizers", no_presidio)
    # What is only shown or kept as a note (the CLI's last-resort error, a comment) is masked by shape;
    # what lands in shards, ledgers or the config digest is refused rather than masked otherwise than
    # with Presidio (another install would give other bytes and another manifest ID).
    shown = pii_fields.mask_identifiers("exports/01012345678.jsonl", by_shape_without_presidio=True)
    assert shown == "exports/<NUMBER>.jsonl"
    with pytest.raises(ConfigError, match="needs the pii extra") as refused:
        pii_fields.mask_identifiers("exports/01012345678.jsonl")
    assert "01012345678" not in str(refused.value)
    assert pii_fields.mask_identifiers("exports/part-0001.jsonl") == "exports/part-0001.jsonl"  # no identifier shape: no Presidio needed
    assert review.mask_note("erasure request from kim.lee@example.com, 010-1234-5678") == "erasure request from <EMAIL_ADDRESS>, <NUMBER>"
    assert review.mask_note("licences checked on 2026-12-08") == "licences checked on 2026-12-08"
