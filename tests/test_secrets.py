"""Secrets (the pseudonymisation key and the signing key) never reach manifests, ledgers,
shards, reports, logs or error messages."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, cli

PSEUDONYM_SECRET = "pseudonym-secret-6f1d2a9c44e0b7"


def every_byte_written(*roots: Path) -> bytes:
    blob = b""
    for root in roots:
        for p in sorted(root.rglob("*")):
            if p.is_file():
                blob += p.read_bytes()
    return blob


@pytest.mark.slow
def test_keys_never_appear_in_anything_a_run_writes(tmp_path):
    keys = tmp_path / "keys"
    env = {
        "CORPUSMILL_KEY_DIR": str(keys),
        "CORPUSMILL_PSEUDONYM_KEY": PSEUDONYM_SECRET,
        "CORPUSMILL_CATALOG": str(tmp_path / "cat"),
        "CORPUSMILL_INDEX_DIR": str(tmp_path / "index"),
    }
    init = cli("keys", "init", "--name", "producer", cwd=tmp_path, env=env)
    pem_files = [p for p in keys.rglob("*") if p.is_file() and b"PRIVATE KEY" in p.read_bytes()]
    assert pem_files, "keys init wrote no private key"
    private_pem = pem_files[0].read_bytes()
    # The raw key material (base64 body of the PEM) is what must never leak.
    body = b"".join(line for line in private_pem.splitlines() if line and not line.startswith(b"-----"))
    raw = base64.b64decode(body)

    (tmp_path / "data").symlink_to(EXAMPLES / "data")
    cfg = (EXAMPLES / "pipeline.yaml").read_text()
    # Pseudonymise every entity type so the key is used on every document with PII.
    cfg = cfg.replace("stages:\n", "stages:\n  - {name: pii, default_operator: pseudonym}\n", 1) if "name: pii" not in cfg else cfg.replace(
        "name: pii", "name: pii, default_operator: pseudonym", 1
    )
    (tmp_path / "p.yaml").write_text(cfg)
    run = cli("run", "p.yaml", "--out", "out", cwd=tmp_path, env=env)
    mid = run.stdout.strip().splitlines()[-1]
    shown = cli("manifest", "show", mid, "--json", cwd=tmp_path, env=env)
    manifest = json.loads(shown.stdout)
    pseudonymised = {s["id"]: sum(n for k, c in s["stage_counters"].items() if k.startswith("pii@") for n in c.values())
                     for s in manifest["sources"]}
    assert all(pseudonymised[s] > 0 for s in ("ko_bills", "en_speeches", "ko_reviews")), pseudonymised  # the key was used
    verify = cli("manifest", "verify", mid, cwd=tmp_path, env=env)
    written = every_byte_written(tmp_path / "out", tmp_path / "cat", tmp_path / "index")
    outputs = [init.stdout, init.stderr, run.stdout, run.stderr, shown.stdout, verify.stdout, verify.stderr]
    for secret in (PSEUDONYM_SECRET.encode(), body, raw, base64.b64encode(raw[-32:])):
        assert secret not in written, "a secret was written to the run's output or catalog"
        assert not any(secret.decode("latin-1") in o for o in outputs), "a secret was printed"
    # and a missing key is an error that names the variable, not a value
    bad = cli("run", "p.yaml", "--out", "out2", cwd=tmp_path, env={**env, "CORPUSMILL_PSEUDONYM_KEY": ""}, check=False)
    assert bad.returncode != 0 and "CORPUSMILL_PSEUDONYM_KEY" in bad.stderr
