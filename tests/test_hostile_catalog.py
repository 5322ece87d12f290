"""Tampering and crashes around the catalog (issue #16, #17 reviewer items), through the real CLI.

Each test is an attack or accident that went through before: a deleted revocation pulled as
approved, forged approvals listed as approved, a deleted producer signature printed as
"unsigned", a deleted ledger pulled as verified, stale shards beside a successor, a garbage
index ending every command in a traceback, ANSI escapes painted over a revocation.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest

from manifests import review, signing
from tests.catalog_cli import cm
from tests.conftest import mount_tmpfs

pytest_plugins = ["tests.catalog_fixtures"]


def _approve(e, comment="ok"):
    return cm("review", "approve", e.mid, "--comment", comment)


# --- reviewer identity (#17) ---------------------------------------------------------------------


def test_the_reviewer_is_the_signing_keys_name_not_free_text(env):
    res = cm("review", "approve", env.mid, "--reviewer", "Jane Kim", "--comment", "ok", check=False)
    assert res.returncode == 2 and "not the name of your signing key (alice)" in res.stderr
    out = cm("review", "approve", env.mid, "--reviewer", "alice", "--comment", "ok").stdout
    assert "by alice" in out
    assert review.verify(env.cat, env.mid).review.records[0]["reviewer"] == "alice"


def test_a_record_whose_reviewer_field_differs_from_its_signer_fails(env):
    _approve(env)
    path = env.catalog / "reviews" / env.mid / "00000.json"
    rec = json.loads(path.read_text())
    body = {k: v for k, v in rec.items() if k != "signature"} | {"reviewer": "Jane Kim"}
    path.write_text(json.dumps(signing.sign(body, signing.load_signing_key())))
    res = cm("manifest", "verify", env.mid, check=False)
    assert res.returncode == 3 and "names reviewer Jane Kim but is signed by key alice" in res.stderr


def test_a_key_that_is_not_trusted_cannot_review(env, tmp_path, monkeypatch):
    monkeypatch.setenv("CORPUSMILL_TRUSTED_KEYS", str(tmp_path / "empty"))
    res = cm("review", "approve", env.mid, "--comment", "ok", check=False)
    assert res.returncode == 2 and "is not in the trusted keys" in res.stderr


# --- the end of the chain --------------------------------------------------------------------------


def test_deleting_the_revocation_and_the_index_is_still_detected(env):
    _approve(env)
    cm("review", "revoke", env.mid, "--comment", "licensor withdrew consent")
    os.remove(env.catalog / "reviews" / env.mid / "00001.json")
    os.remove(env.catalog / "index.sqlite")
    for args in (("manifest", "verify", env.mid), ("pull", env.mid, "--to", "out")):
        res = cm(*args, check=False)
        assert res.returncode == 3 and "counts 2 review record(s) but 1 are in the catalog" in res.stderr
    assert not (env.tmp / "out" / "manifest.json").exists()


def test_deleting_the_chain_head_too_is_detected(env):
    _approve(env)
    cm("review", "revoke", env.mid, "--comment", "withdrawn")
    os.remove(env.catalog / "reviews" / env.mid / "00001.json")
    os.remove(env.catalog / "reviews" / env.mid / "head.json")
    os.remove(env.catalog / "index.sqlite")
    res = cm("pull", env.mid, "--to", "out", check=False)
    assert res.returncode == 3 and "head.json is missing although 1 review record(s) exist" in res.stderr


def test_deleting_every_record_leaves_an_unpullable_draft(env):
    _approve(env)
    shutil.rmtree(env.catalog / "reviews" / env.mid)
    os.remove(env.catalog / "index.sqlite")
    res = cm("pull", env.mid, "--to", "out", check=False)
    assert res.returncode == 2 and "it is a draft" in res.stderr


def test_deleting_the_producer_signature_after_review_fails_verify(env):
    _approve(env)
    os.remove(env.catalog / "signatures" / f"{env.mid}.json")
    res = cm("manifest", "verify", env.mid, check=False)
    assert res.returncode == 3 and "producer signature" in res.stderr and "is missing" in res.stderr


# --- the index holds only verified states -----------------------------------------------------------


def test_a_forged_approval_is_listed_unverified_never_approved(env, tmp_path, monkeypatch):
    monkeypatch.setenv("CORPUSMILL_KEY_DIR", str(tmp_path / "mallory"))
    _, mallory = signing.init_key("mallory")
    monkeypatch.setenv("CORPUSMILL_KEY_DIR", str(env.keys))
    manifest = env.cat.get(env.mid)
    forged = signing.sign(
        {
            "kind": "review", "manifest_id": env.mid, "seq": 0, "action": "approve", "from_state": "draft",
            "to_state": "approved", "reviewer": "mallory", "time": "2026-01-01T00:00:00Z", "comment": "ok", "prev": None,
            "manifest_sha256": review.manifest_sha256(manifest), "manifest_fields": signing.field_digests(manifest),
        },
        mallory,
    )
    d = env.catalog / "reviews" / env.mid
    d.mkdir(parents=True, exist_ok=True)
    (d / "00000.json").write_text(json.dumps(forged))
    rows = json.loads(cm("manifest", "list", "--json").stdout)
    assert [r["state"] for r in rows if r["id"] == env.mid] == ["unverified"]
    assert "approved" not in cm("manifest", "list").stdout


# --- approve refuses damaged releases -----------------------------------------------------------------


@pytest.mark.parametrize("damage", ["delete ledger", "alter shard"])
def test_approve_refuses_a_manifest_whose_files_are_missing_or_altered(env, damage):
    if damage == "delete ledger":
        os.remove(env.shard("ledger.parquet"))
    else:
        p = env.shard()
        p.write_bytes(p.read_bytes()[:-1] + b"\0")
    res = cm("review", "approve", env.mid, "--comment", "ok", check=False)
    assert res.returncode == 3 and "refusing to approve" in res.stderr
    assert review.verify(env.cat, env.mid, check_files=False).state == "draft"


def test_pull_verifies_the_ledger(env):
    _approve(env)
    os.remove(env.shard("ledger.parquet"))
    res = cm("pull", env.mid, "--to", "out", check=False)
    assert res.returncode == 3 and "ledger.parquet: missing from the catalog" in res.stderr


# --- pull leaves exactly the manifest's files ---------------------------------------------------------


def test_pulling_over_another_manifest_removes_its_files_and_says_which(env):
    _approve(env)
    m = env.cat.get(env.mid)
    dest = env.tmp / "trainer"
    cm("pull", env.mid, "--to", str(dest))
    # pretend the folder held a predecessor with one more shard
    extra = dest / "shards" / "part-09999.parquet"
    extra.write_bytes(b"old rows")
    (dest / "shards" / ".part-09998.parquet.part").write_bytes(b"half")
    old = dict(m, id="cm-0000000000000000", shards=[*m["shards"], {"path": "shards/part-09999.parquet"}])
    (dest / "manifest.json").write_text(json.dumps(old))
    out = cm("pull", env.mid, "--to", str(dest)).stdout
    assert "removed 2 file(s)" in out and "part-09999.parquet" in out
    on_disk = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    assert on_disk == sorted([s["path"] for s in m["shards"]] + ["manifest.json", "reviews.json", "signature.json"])


def test_pull_refuses_a_folder_with_foreign_files(env):
    _approve(env)
    dest = env.tmp / "mine"
    dest.mkdir()
    (dest / "notes.txt").write_text("mine")
    res = cm("pull", env.mid, "--to", str(dest), check=False)
    assert res.returncode == 2 and "not part of any manifest pulled there (notes.txt)" in res.stderr
    assert (dest / "notes.txt").exists()


def test_a_corrupt_local_part_file_is_blamed_on_the_local_copy(env):
    _approve(env)
    dest = env.tmp / "p"
    cm("pull", env.mid, "--to", str(dest))
    shard = env.cat.get(env.mid)["shards"][0]["path"]
    full = (dest / shard).read_bytes()
    (dest / shard).unlink()
    (dest / shard).with_name(f".{(dest / shard).name}.part").write_bytes(b"X" * (len(full) // 2))
    out = cm("pull", env.mid, "--to", str(dest)).stdout
    assert "copied again (the local partial file was corrupt)" in out and "verified" in out


# --- garbage index, display ---------------------------------------------------------------------------


def test_a_garbage_index_is_set_aside_and_rebuilt(env):
    _approve(env)
    (env.catalog / "index.sqlite").write_bytes(b"this is not a database" * 100)
    for i, args in enumerate((("manifest", "list"), ("manifest", "verify", env.mid), ("review", "history", env.mid))):
        res = cm(*args, check=False)
        assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
        if i == 0:  # the warning was logged under `manifests.index`, which the CLI never showed (session 13)
            assert "was not a usable SQLite database" in res.stderr and "rebuilt from the catalog files" in res.stderr
    assert "approved" in cm("manifest", "list").stdout
    assert list(env.catalog.glob("index.sqlite.corrupt-*"))


@pytest.mark.parametrize("damage", [b"", b"[]", b'{"id": "cm-00000000000000ab", "shards": [', b'{"id": "cm-00000000000000ab"}\xff'])
def test_a_damaged_manifest_file_is_one_line_and_leaves_the_others_usable(env, damage):
    # Session 13: a manifest file cut short, emptied, not UTF-8 or not an object ended every command
    # naming it in a traceback — and, on an index that had not seen it (a trainer's fresh index, or
    # after a garbage index was rebuilt), `manifest list` and `pull` of every other manifest too.
    _approve(env)
    bad = "cm-00000000000000ab"
    (env.catalog / "manifests" / f"{bad}.json").write_bytes(damage)
    (env.catalog / "index.sqlite").unlink()
    res = cm("manifest", "list", check=False)
    assert res.returncode == 0 and env.mid in res.stdout and bad not in res.stdout, res.stderr
    assert "Traceback" not in res.stderr and f"manifest {bad} left out" in res.stderr
    assert cm("pull", env.mid, "--to", "p", check=False).returncode == 0
    for args in (("manifest", "show", bad), ("manifest", "verify", bad), ("pull", bad, "--to", "q"), ("report", bad, "--out", "r")):
        res = cm(*args, check=False)
        assert res.returncode == 3 and "Traceback" not in res.stderr, (args, res.stderr)
        assert f"{bad}.json" in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr


@pytest.mark.parametrize("target", ["reviews/{mid}/00000.json", "reviews/{mid}/head.json", "signatures/{mid}.json"])
@pytest.mark.parametrize("damage", ["cut", "list"])
def test_a_damaged_review_record_head_or_signature_is_an_integrity_failure_naming_it(env, target, damage):
    # Session 13: a review record, chain head or producer signature cut short or holding a JSON list
    # ended verify, pull, audit, review history, tokenize and mix in a traceback (exit 1).
    _approve(env)
    rel = target.format(mid=env.mid)
    path = env.catalog / rel
    assert path.exists(), sorted(p.name for p in path.parent.iterdir())
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2] if damage == "cut" else b"[1]")
    for args in (("manifest", "verify", env.mid), ("pull", env.mid, "--to", "p"), ("review", "history", env.mid),
                 ("audit", env.mid, "--out", "a.json")):
        res = cm(*args, check=False)
        assert res.returncode == 3 and "Traceback" not in res.stderr, (args, res.stderr)
        if args[0] != "audit":  # the audit writes its report, with the failure in it
            assert rel in res.stdout + res.stderr, (args, res.stdout, res.stderr)


def test_a_damaged_review_record_is_not_also_a_broken_chain(env):
    # Review of session 13: after a damaged record, the next record's link to it and its transition
    # were reported as two more, wrong problems (a broken chain, an illegal transition).
    from manifests import review
    from manifests.catalog import Catalog

    _approve(env)
    cm("review", "revoke", env.mid, "--comment", "withdrawn")
    first = env.catalog / "reviews" / env.mid / "00000.json"
    first.write_bytes(first.read_bytes()[: first.stat().st_size // 2])
    st = review.replay(Catalog(str(env.catalog)), Catalog(str(env.catalog)).get(env.mid))
    assert len(st.problems) == 1 and "00000.json" in st.problems[0], st.problems
    assert st.state == "revoked" and [r.get("action") for r in st.records] == [None, "revoke"]
    res = cm("review", "history", env.mid, "--json", check=False)
    problems = json.loads(res.stdout)["problems"]  # the replay's one, and the index's (it held the record whole)
    assert "Traceback" not in res.stderr and not any("chain broken" in p or "illegal transition" in p for p in problems), problems
    assert sum("00000" in p for p in problems) == len(problems) == 2, problems


def test_a_takedown_of_a_manifest_whose_history_does_not_verify_changes_nothing(env):
    # Session 13: the successor manifest and the takedown lists were published, then the revocation
    # was refused (the chain does not verify): the old release stayed unrevoked beside its successor.
    _approve(env)
    (env.catalog / "reviews" / env.mid / "head.json").unlink()
    before = sorted(p.relative_to(env.catalog) for p in env.catalog.rglob("*") if p.name != "index.sqlite")
    for extra in (["--dry-run"], []):
        res = cm("takedown", env.mid, "--source", "ko_reviews", "--reason", "licensor withdrew consent", *extra, check=False)
        assert res.returncode == 3 and "review history does not verify" in res.stderr and "head.json is missing" in res.stderr, res.stderr
    assert sorted(p.relative_to(env.catalog) for p in env.catalog.rglob("*") if p.name != "index.sqlite") == before


def test_control_characters_from_the_catalog_are_escaped_when_printed(env):
    cm("review", "approve", env.mid, "--comment", "fine\x1b[2K\r\n  12:00  revoke  approved → \x1b[32mapproved")
    out = cm("review", "history", env.mid).stdout
    assert "\x1b" not in out and "\\x1b[2K\\r\\n" in out
    cm("review", "revoke", env.mid, "--comment", "withdrawn\x1b[1A\x1b[2Kok")
    res = cm("pull", env.mid, "--to", "x", check=False)
    assert res.returncode == 2 and "\x1b" not in res.stderr and "withdrawn\\x1b[1A" in res.stderr


# --- crashes become one-line errors with documented exit codes ------------------------------------


def test_audit_with_the_ledger_deleted_is_an_integrity_error(env):
    os.remove(env.shard("ledger.parquet"))
    res = cm("audit", env.mid, "--out", "a.html", check=False)
    assert res.returncode == 3 and "ledger.parquet is missing from catalog" in res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1


@pytest.fixture()
def tiny_disk(tmp_path):
    yield from mount_tmpfs(tmp_path / "tiny", "32k")


def test_a_pull_larger_than_the_free_space_is_refused_before_copying(env, tiny_disk):
    _approve(env)
    res = cm("pull", env.mid, "--to", str(tiny_disk / "p"), "--workers", "1", check=False)
    assert res.returncode == 2 and "bytes to copy into" in res.stderr and "nothing was copied" in res.stderr, res.stderr
    assert not (tiny_disk / "p").exists()


def test_disk_full_during_pull_says_where_and_how_much(env, tiny_disk, monkeypatch):
    from manifests import loaders

    _approve(env)
    # the disk fills after the free-space check (another writer): the copy itself runs out
    monkeypatch.setattr(loaders, "_free_space_check", lambda *a: (0, None))
    res = cm("pull", env.mid, "--to", str(tiny_disk / "p"), "--workers", "1", check=False)
    assert res.returncode == 2, res.stderr
    assert "no space left on device while writing" in res.stderr and str(tiny_disk) in res.stderr and "bytes free" in res.stderr
    assert "Traceback" not in res.stderr


def test_two_runs_into_the_same_out_one_is_refused_in_one_line(tmp_path):
    from corpusmill_base.atomic import exclusive_lock
    from tests.conftest import ROOT, cli

    cfg = ROOT / "tests" / "data" / "reliability" / "pipeline.yaml"
    out = tmp_path / "out"
    with exclusive_lock(out):  # a run in progress holds it
        res = cli("run", str(cfg), "--out", str(out), "--catalog", str(tmp_path / "cat"), cwd=tmp_path, check=False)
    assert res.returncode == 2 and f"pid {os.getpid()}" in res.stderr and "is writing to" in res.stderr
    assert "Traceback" not in res.stderr
    assert cli("run", str(cfg), "--out", str(out), "--catalog", str(tmp_path / "cat"), cwd=tmp_path).returncode == 0


# --- takedown of a document dropped as a duplicate ---------------------------------------------------


def test_taking_down_a_dropped_duplicate_removes_the_kept_copy(env):
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    ledger = pq.read_table(env.shard("ledger.parquet"))
    dups = ledger.filter(pc.is_valid(ledger.column("duplicate_of"))).to_pylist()
    assert dups, "the catalog fixture's run drops exact duplicates"
    named, kept_copy = dups[0]["id"], dups[0]["duplicate_of"]
    ids = env.tmp / "ids.txt"
    ids.write_text(named + "\n")
    res = cm("takedown", env.mid, "--doc-ids", str(ids), "--reason", "data subject request")
    new = res.stdout.strip().splitlines()[-1]
    assert "copies kept in their place (ledger duplicate_of) were removed too" in res.stdout
    remaining = []
    for s in env.cat.get(new)["shards"]:
        remaining += pq.read_table(env.shard(s["path"], new), columns=["id"]).column("id").to_pylist()
    assert kept_copy not in remaining
    assert env.cat.get(new)["takedowns"][-1]["kept_copies_removed"] == 1


def test_a_takedown_rejection_cannot_be_reopened(env, tmp_path):
    src = env.cat.get(env.mid)["sources"][0]["id"]
    cm("takedown", env.mid, "--source", src, "--reason", "licensor withdrew consent")
    res = cm("review", "reopen", env.mid, "--comment", "try again", check=False)
    assert res.returncode == 2 and "rejected by a takedown" in res.stderr


def test_a_bad_key_name_with_force_keeps_the_existing_key(tmp_path, monkeypatch):
    # `keys init --name "two words" --force` replaced the signing key, then refused the name: the
    # reviewer was left with a new key nobody trusted (session 11). Names: one printable word ≤ 64.
    from corpusmill_base.errors import ConfigError

    monkeypatch.setenv("CORPUSMILL_KEY_DIR", str(tmp_path / "keys"))
    monkeypatch.delenv("CORPUSMILL_SIGNING_KEY_FILE", raising=False)
    monkeypatch.delenv("CORPUSMILL_TRUSTED_KEYS", raising=False)
    path, key = signing.init_key("reviewer")
    pem = path.read_bytes()
    for bad in ("two words", "", "x" * 65, "esc\x1b[31m", "nul\x00"):
        with pytest.raises(ConfigError, match="must be one printable word of at most 64 characters"):
            signing.init_key(bad, force=True)
        assert path.read_bytes() == pem
    assert list(signing.load_trusted_keys()) == [signing.key_id_of(key.public)]


def test_a_takedown_id_file_with_unknown_or_binary_lines_names_lines_not_ids(env):
    # Session 11: an id not in the ledger was quoted in the error (a vendor's record id can hold
    # personal data), and a file that was not UTF-8 ended in a UnicodeDecodeError traceback.
    import pyarrow.parquet as pq

    known = pq.read_table(env.shard("ledger.parquet"), columns=["id"]).column("id")[0].as_py()
    ids = env.tmp / "ids.txt"
    ids.write_text(f"# request 7\n{known}\nkim.minsu@example.com\n\n010-1234-5678  # phone\n{known}\n")
    res = cm("takedown", env.mid, "--doc-ids", str(ids), "--reason", "request", check=False)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert f"{ids}: lines 3, 5: 2 document id(s) are not in {env.mid}'s ledger" in res.stderr
    assert "kim.minsu" not in res.stderr and "1234" not in res.stderr
    assert env.cat.get(env.mid).get("state", "draft") == "draft" and not env.cat.get(env.mid).get("successor")
    ids.write_bytes(known.encode() + b"\n\xff\xfe\n")
    res = cm("takedown", env.mid, "--doc-ids", str(ids), "--reason", "request", check=False)
    assert res.returncode == 2 and f"{ids}: line 2: not UTF-8 text" in res.stderr and "Traceback" not in res.stderr


def test_a_catalog_or_source_url_fsspec_cannot_open_is_one_line(tmp_path, monkeypatch):
    # Session 13: `gs://…` without gcsfs installed, or a scheme fsspec does not know, ended every
    # catalog command and `run --dry-run` in fsspec's ImportError/ValueError traceback.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CORPUSMILL_CATALOG", "nosuchscheme://bucket/catalog")
    res = cm("manifest", "list", check=False)
    assert res.returncode == 2 and res.stderr.strip() == "corpusmill: error: catalog nosuchscheme://bucket/catalog: Protocol not known: nosuchscheme"
    monkeypatch.setenv("CORPUSMILL_CATALOG", str(tmp_path / "cat"))
    (tmp_path / "p.yaml").write_text(
        "name: x\npurpose: {description: t, uses: [research]}\nsources:\n  - id: a\n    paths: ['nosuchscheme://b/*.jsonl']\n"
        "    format: jsonl\n    provenance: {owner: x, acquisition: owned, licence: CC0-1.0}\n")
    res = cm("run", "p.yaml", "--dry-run", check=False)
    assert res.returncode == 2 and "source 'a': 'nosuchscheme://b/*.jsonl': Protocol not known: nosuchscheme" in res.stderr
    assert "Traceback" not in res.stderr
