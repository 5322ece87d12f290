"""Review state machine, signatures and tampering detection, through the real CLI and the API."""

from __future__ import annotations

import json
import os

import pytest

from manifests import review, signing
from manifests.manifest import canonical_json
from corpusmill_base.errors import IntegrityError
from tests.catalog_cli import cm

# Session fixtures shared by every catalog test module (one signed run per session).
pytest_plugins = ["tests.catalog_fixtures"]


def _approve(e, comment="licences and contracts checked"):
    return cm("review", "approve", e.mid, "--comment", comment)


def test_run_signs_publishes_and_indexes(env):
    assert (env.catalog / "signatures" / f"{env.mid}.json").exists()
    assert (env.catalog / "index.sqlite").exists()
    rows = json.loads(cm("manifest", "list", "--json").stdout)
    assert [(r["id"], r["state"]) for r in rows] == [(env.mid, "draft")]
    out = cm("manifest", "verify", env.mid).stdout
    assert "signed" in out and "state: draft" in out


def test_state_machine_allows_only_the_documented_transitions(env):
    res = cm("review", "revoke", env.mid, "--comment", "no", check=False)
    assert res.returncode == 2 and "is draft: cannot revoke it (allowed: approve, reject)" in res.stderr
    _approve(env)
    for action in ("approve", "reject"):
        res = cm("review", action, env.mid, "--comment", "again", check=False)
        assert res.returncode == 2 and f"is approved: cannot {action} it (allowed: revoke)" in res.stderr
    cm("review", "revoke", env.mid, "--comment", "licensor withdrew consent")
    for action in ("approve", "reject", "revoke"):
        res = cm("review", action, env.mid, "--comment", "x", check=False)
        assert res.returncode == 2 and "revoked is final" in res.stderr
    hist = json.loads(cm("review", "history", env.mid, "--json").stdout)
    assert hist["state"] == "revoked" and hist["problems"] == []
    assert [(r["action"], r["reviewer"], r["from_state"], r["to_state"]) for r in hist["records"]] == [
        ("approve", "alice", "draft", "approved"),
        ("revoke", "alice", "approved", "revoked"),
    ]
    assert all(r["time"].endswith("Z") and r["comment"] for r in hist["records"])
    # Append-only: the first record is untouched by later transitions.
    assert hist["records"][1]["prev"] == review.record_sha256(hist["records"][0])


def test_a_rejection_can_be_followed_by_a_new_review_cycle_and_reviews_need_a_comment(env):
    with pytest.raises(review.IllegalTransition, match="needs --comment"):
        review.transition(env.cat, env.mid, "approve", "alice", "  ")
    review.transition(env.cat, env.mid, "reject", "alice", "contract missing for ko_reviews")
    with pytest.raises(review.IllegalTransition, match="is rejected: cannot approve it \\(allowed: reopen\\)"):
        review.transition(env.cat, env.mid, "approve", "alice", "changed my mind")
    cm("review", "reopen", env.mid, "--comment", "contract for ko_reviews received")
    cm("review", "approve", env.mid, "--comment", "contract checked")
    v = review.verify(env.cat, env.mid)
    assert v.state == "approved" and v.ok
    assert [r["action"] for r in v.review.records] == ["reject", "reopen", "approve"]  # recorded, never erased


def test_pull_refuses_unapproved_manifests_and_says_why(env):
    res = cm("pull", env.mid, "--to", "out", check=False)
    assert res.returncode == 2 and "it is a draft" in res.stderr and "pass --allow-unapproved" in res.stderr
    assert "allow_unapproved=True" not in res.stderr and "corpusmill review approve" in res.stderr
    assert not (env.tmp / "out" / "manifest.json").exists()
    assert "(draft)" in cm("pull", env.mid, "--to", "out", "--allow-unapproved").stdout
    _approve(env)
    assert "(approved)" in cm("pull", env.mid, "--to", "out2").stdout
    cm("review", "revoke", env.mid, "--comment", "licensor withdrew consent")
    res = cm("pull", env.mid, "--to", "out3", check=False)
    assert res.returncode == 2 and "it was revoked by alice" in res.stderr and "licensor withdrew consent" in res.stderr


def test_changed_byte_in_a_shard_is_reported_by_verify_pull_and_open(env):
    import manifests

    _approve(env)
    shard = env.shard("shards/part-00003.parquet")
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0x01
    shard.write_bytes(bytes(data))
    res = cm("manifest", "verify", env.mid, check=False)
    assert res.returncode == 3 and "shards/part-00003.parquet: sha256" in res.stderr
    assert "part-00002" not in res.stderr
    res = cm("pull", env.mid, "--to", "out", check=False)
    assert res.returncode == 3 and "shards/part-00003.parquet" in res.stderr
    assert not (env.tmp / "out" / "shards" / "part-00003.parquet").exists()
    assert not (env.tmp / "out" / "manifest.json").exists()
    with pytest.raises(IntegrityError, match="part-00003"):
        manifests.open(env.mid)


def _edit_manifest(e, change):
    path = e.catalog / "manifests" / f"{e.mid}.json"
    m = json.loads(path.read_text(encoding="utf-8"))
    change(m)
    path.write_text(json.dumps(m, indent=2, ensure_ascii=False), encoding="utf-8")


def test_changed_manifest_field_is_reported_with_the_field(env):
    _approve(env)
    # A field outside the content digest: the ID still matches, the signatures catch it.
    _edit_manifest(env, lambda m: m.__setitem__("created_at", "2020-01-01T00:00:00Z"))
    res = cm("manifest", "verify", env.mid, check=False)
    assert res.returncode == 3
    assert f"manifest {env.mid} was changed after it was signed: created_at (modified)" in res.stderr
    assert "reviewed a different manifest than the catalog now holds (changed: created_at (modified))" in res.stderr
    assert cm("pull", env.mid, "--to", "out", check=False).returncode == 3


def test_changed_manifest_content_breaks_the_id(env):
    _edit_manifest(env, lambda m: m["totals"].__setitem__("kept", m["totals"]["kept"] + 1))
    res = cm("manifest", "verify", env.mid, check=False)
    assert res.returncode == 3 and "does not match its content" in res.stderr


def _forge(e, seq, record):
    path = e.catalog / "reviews" / e.mid / f"{seq:05d}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2), encoding="utf-8")


def test_review_signed_by_an_untrusted_key_is_refused(env, tmp_path, monkeypatch):
    # Mallory has a key of her own, not in alice's trusted keys, and approves the draft.
    monkeypatch.setenv("CORPUSMILL_KEY_DIR", str(tmp_path / "mallory"))
    _, mallory = signing.init_key("mallory")
    monkeypatch.setenv("CORPUSMILL_KEY_DIR", str(env.keys))
    manifest = env.cat.get(env.mid)
    forged = signing.sign(
        {
            "kind": "review", "manifest_id": env.mid, "seq": 0, "action": "approve", "from_state": "draft",
            "to_state": "approved", "reviewer": "alice", "time": "2026-01-01T00:00:00Z", "comment": "ok", "prev": None,
            "manifest_sha256": review.manifest_sha256(manifest), "manifest_fields": signing.field_digests(manifest),
        },
        mallory,
    )
    _forge(env, 0, forged)
    res = cm("pull", env.mid, "--to", "out", check=False)
    assert res.returncode == 3 and f"signed by key {mallory.key_id} which is not in the trusted keys" in res.stderr
    res = cm("pull", env.mid, "--to", "out", "--allow-unapproved", check=False)
    assert res.returncode == 3, "a forged history is refused even when unapproved manifests are allowed"


def test_unsigned_or_edited_review_records_are_reported(env):
    _approve(env, "approved for pretraining only")
    path = env.catalog / "reviews" / env.mid / "00000.json"
    rec = json.loads(path.read_text())
    rec["comment"] = "approved for any use"
    path.write_text(json.dumps(rec))
    res = cm("manifest", "verify", env.mid, check=False)
    assert res.returncode == 3 and "changed since signing: comment (modified)" in res.stderr
    del rec["signature"]
    path.write_text(json.dumps(rec))
    res = cm("manifest", "verify", env.mid, check=False)
    assert res.returncode == 3 and "review record reviews/" in res.stderr and "not signed" in res.stderr


def test_removed_review_record_is_caught_by_the_index(env):
    _approve(env)
    cm("review", "revoke", env.mid, "--comment", "licensor withdrew consent")
    # Deleting the revocation would make the manifest look approved again: the chain alone is
    # still consistent, but the index remembers the record.
    os.remove(env.catalog / "reviews" / env.mid / "00001.json")
    res = cm("pull", env.mid, "--to", "out", check=False)
    assert res.returncode == 3
    assert "review record 00001 (revoke by alice) was indexed earlier but is no longer in the catalog" in res.stderr


def test_rewritten_history_breaks_the_chain(env):
    _approve(env)
    cm("review", "revoke", env.mid, "--comment", "withdrawn")
    # Replace record 0 by a freshly signed one (trusted key): record 1 no longer follows it.
    key = signing.load_signing_key()
    rec0 = json.loads((env.catalog / "reviews" / env.mid / "00000.json").read_text())
    body = {k: v for k, v in rec0.items() if k != "signature"} | {"comment": "rewritten later"}
    _forge(env, 0, signing.sign(body, key))
    res = cm("manifest", "verify", env.mid, check=False)
    assert res.returncode == 3
    assert "00001.json: does not follow the previous record" in res.stderr
    assert "review record 00000 (approve by alice) differs from the one indexed earlier" in res.stderr


def test_signature_reports_changed_fields():
    key = signing.SigningKey(signing.Ed25519PrivateKey.generate(), "test")
    trusted = {key.key_id: signing.TrustedKey("t", key.key_id, key.public)}
    rec = signing.sign({"a": 1, "b": [1, 2]}, key)
    assert signing.check(rec, trusted, "r") == []
    assert signing.check(rec | {"b": [1, 3]}, trusted, "r") == ["r: signature by t (%s) is invalid — changed since signing: b (modified)" % key.key_id]
    assert "c (added)" in signing.check(rec | {"c": 0}, trusted, "r")[0]
    assert canonical_json(rec["signature"]["fields"])  # field digests are part of the signed block


def test_keys_from_environment(tmp_path, monkeypatch):
    from cryptography.hazmat.primitives import serialization

    priv = signing.Ed25519PrivateKey.generate()
    pem = priv.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    monkeypatch.setenv("CORPUSMILL_KEY_DIR", str(tmp_path))
    monkeypatch.setenv("CORPUSMILL_SIGNING_KEY", pem.decode())
    key = signing.load_signing_key()
    assert key.key_id == signing.key_id_of(priv.public_key()) and key.origin == "$CORPUSMILL_SIGNING_KEY"
    monkeypatch.delenv("CORPUSMILL_SIGNING_KEY")
    (tmp_path / "k.pem").write_bytes(pem)
    monkeypatch.setenv("CORPUSMILL_SIGNING_KEY_FILE", str(tmp_path / "k.pem"))
    assert signing.load_signing_key().key_id == key.key_id
    res = cm("keys", "show")
    assert key.key_id in res.stdout


def test_a_trainers_own_index_remembers_verified_history(env, tmp_path):
    from manifests.catalog import Catalog

    _approve(env)
    cm("review", "revoke", env.mid, "--comment", "withdrawn")
    trainer = Catalog(str(env.catalog), index_path=tmp_path / "trainer-index.sqlite")
    assert review.verify(trainer, env.mid).state == "revoked"  # first sight: recorded in the trainer's index
    os.remove(env.catalog / "reviews" / env.mid / "00001.json")
    again = review.verify(trainer, env.mid)
    assert again.state == "approved" and any("no longer in the catalog" in p for p in again.problems)
