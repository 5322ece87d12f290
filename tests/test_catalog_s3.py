"""The catalog on S3-compatible object storage: a real moto server on loopback, reached through s3fs."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.catalog_cli import CONFIG, cm

# Session fixtures shared by every catalog test module (one signed run per session).
pytest_plugins = ["tests.catalog_fixtures"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory):
    exe = Path(sys.executable).with_name("moto_server")
    if not exe.exists():
        exe = Path(shutil.which("moto_server") or "moto_server")
    port = _free_port()
    log = open(tmp_path_factory.mktemp("moto") / "moto.log", "wb")
    proc = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                raise RuntimeError(f"moto_server did not start on {url}") from None
            time.sleep(0.3)
    yield url
    proc.terminate()
    proc.wait(timeout=20)
    log.close()


@pytest.fixture()
def s3_env(s3_server, catalog_keys, tmp_path, monkeypatch):
    import fsspec

    for k, v in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "FSSPEC_S3_ENDPOINT_URL": s3_server,
        "CORPUSMILL_INDEX_DIR": str(tmp_path / "index"),
        "CORPUSMILL_KEY_DIR": str(catalog_keys),
    }.items():
        monkeypatch.setenv(k, v)
    # fsspec reads FSSPEC_* variables once at import; this process imported it already.
    monkeypatch.setitem(fsspec.config.conf, "s3", {"endpoint_url": s3_server})
    monkeypatch.chdir(tmp_path)
    bucket = f"corpus-{os.getpid()}-{tmp_path.name[-8:].lower().replace('_', '-')}"
    fs = fsspec.filesystem("s3", endpoint_url=s3_server, skip_instance_cache=True)
    fs.mkdir(bucket)
    url = f"s3://{bucket}/catalog"
    monkeypatch.setenv("CORPUSMILL_CATALOG", url)
    return url, fs, tmp_path


def test_catalog_on_s3_end_to_end(s3_env):
    import manifests
    from manifests.catalog import Catalog

    url, fs, tmp = s3_env
    mid = cm("-q", "run", str(CONFIG), "--out", str(tmp / "run")).stdout.strip().splitlines()[-1]
    root = url[len("s3://"):]
    assert fs.exists(f"{root}/manifests/{mid}.json") and fs.exists(f"{root}/signatures/{mid}.json")
    assert fs.exists(f"{root}/data/{mid}/shards/part-00000.parquet")
    assert f"{mid}  draft" in cm("manifest", "list").stdout
    assert list((tmp / "index").glob("*.sqlite")), "the SQLite index of a remote catalog is a local file"
    cm("review", "approve", mid, "--comment", "ok")
    assert fs.exists(f"{root}/reviews/{mid}/00000.json")
    assert "state: approved" in cm("manifest", "verify", mid).stdout
    cat = Catalog(url)
    kept = cat.get(mid)["totals"]["kept"]
    out = cm("pull", mid, "--to", "pulled").stdout
    assert f"{kept:,} documents, verified" in out
    ids = [d["id"] for r in range(3) for d in manifests.iter_shard(mid, r, 3, columns=["id"])]
    assert len(ids) == len(set(ids)) == kept
    assert manifests.open(mid).count_rows() == kept

    # Tampering on the object store is caught, and a takedown works there too.
    shard = f"{root}/data/{mid}/shards/part-00001.parquet"
    data = bytearray(fs.cat_file(shard))
    data[-20] ^= 0x01
    fs.pipe_file(shard, bytes(data))
    res = cm("pull", mid, "--to", "pulled2", check=False)
    assert res.returncode == 3 and "shards/part-00001.parquet" in res.stderr
    fs.pipe_file(shard, bytes(data[:-20]) + bytes([data[-20] ^ 0x01]) + bytes(data[-19:]))
    new = cm("takedown", mid, "--source", "ko_bills", "--reason", "licensor request").stdout.strip().splitlines()[-1]
    assert fs.exists(f"{root}/manifests/{new}.json")
    assert cat.get(new)["totals"]["kept"] == kept - 3
    assert "revoked" in cm("manifest", "lineage", new).stdout


def test_record_create_is_exclusive_on_s3_even_when_the_existence_check_races(s3_env, monkeypatch):
    """Two reviewers racing for one record number: the second PUT is refused by S3 itself
    (If-None-Match), not by a check made before it — here the check always says "absent"."""
    from manifests.catalog import Catalog
    from corpusmill_base.errors import OutputError

    url, fs, tmp = s3_env
    catalog = Catalog(url, index_path=tmp / "race.sqlite")
    monkeypatch.setattr(type(catalog.fs), "exists", lambda self, path, **kw: False)
    catalog.write_json_new("reviews/x/000001.json", {"n": 1})
    with pytest.raises(OutputError, match="already exists"):
        catalog.write_json_new("reviews/x/000001.json", {"n": 2})
    assert catalog.read_json("reviews/x/000001.json") == {"n": 1}


def test_a_refused_conditional_put_without_its_condition_is_already_exists(s3_env, monkeypatch):
    """S3-compatible stores may answer the If-None-Match PUT with a bare 412 PreconditionFailed
    (no `Condition` field): s3fs then raises a generic OSError(EINVAL), which was printed as
    "Invalid argument" (session 11). It is the same refusal as on AWS."""
    from botocore.exceptions import ClientError
    from s3fs.errors import translate_boto_error

    from corpusmill_base.errors import OutputError
    from manifests.catalog import Catalog

    url, fs, tmp = s3_env
    catalog = Catalog(url, index_path=tmp / "bare412.sqlite")
    bare = ClientError({"Error": {"Code": "PreconditionFailed", "Message": "At least one of the pre-conditions you specified did not hold"},
                        "ResponseMetadata": {"HTTPStatusCode": 412}}, "PutObject")
    refused = translate_boto_error(bare)
    assert type(refused) is OSError  # not FileExistsError: what s3fs makes of it

    def put(path, value, mode="overwrite", **kw):
        raise refused

    monkeypatch.setattr(catalog.fs, "pipe_file", put)  # s3fs's sync methods are set per instance
    with pytest.raises(OutputError, match="already exists"):
        catalog.write_json_new("reviews/x/000001.json", {"n": 1})
    other = translate_boto_error(ClientError({"Error": {"Code": "SlowDown", "Message": "slow"}, "ResponseMetadata": {"HTTPStatusCode": 503}}, "PutObject"))

    def slow(path, value, mode="overwrite", **kw):
        raise other

    monkeypatch.setattr(catalog.fs, "pipe_file", slow)
    with pytest.raises(OSError) as e:
        catalog.write_json_new("reviews/x/000002.json", {"n": 2})
    assert not isinstance(e.value, OutputError)
