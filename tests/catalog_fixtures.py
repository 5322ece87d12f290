"""Fixtures for the catalog tests: one signed run of tests/data/catalog/pipeline.yaml per session,
copied per test so that tests can approve, tamper and take down freely."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.catalog_cli import CONFIG, cm
from tests.conftest import cli


@dataclass
class Built:
    catalog: Path
    mid: str
    keys: Path


@pytest.fixture(scope="session")
def catalog_keys(tmp_path_factory) -> Path:
    keys = tmp_path_factory.mktemp("keys")
    cli("keys", "init", "--name", "alice", env={"CORPUSMILL_KEY_DIR": str(keys)})
    return keys


@pytest.fixture(scope="session")
def built_catalog(tmp_path_factory, catalog_keys) -> Built:
    root = tmp_path_factory.mktemp("built")
    res = cli(
        "-q", "run", str(CONFIG), "--out", str(root / "run"), "--catalog", str(root / "catalog"),
        env={"CORPUSMILL_KEY_DIR": str(catalog_keys)},
    )
    return Built(root / "catalog", res.stdout.strip().splitlines()[-1], catalog_keys)


@dataclass
class Env:
    catalog: Path
    mid: str
    keys: Path
    tmp: Path

    @property
    def cat(self):
        from manifests.catalog import Catalog

        return Catalog(str(self.catalog))

    def shard(self, rel: str = "shards/part-00000.parquet", mid: str | None = None) -> Path:
        return self.catalog / "data" / (mid or self.mid) / rel


@pytest.fixture()
def env(built_catalog, tmp_path, monkeypatch) -> Env:
    """A private copy of the built catalog, with the signing key and catalog in the environment."""
    cat = tmp_path / "catalog"
    shutil.copytree(built_catalog.catalog, cat)
    monkeypatch.setenv("CORPUSMILL_KEY_DIR", str(built_catalog.keys))
    monkeypatch.delenv("CORPUSMILL_SIGNING_KEY", raising=False)
    monkeypatch.delenv("CORPUSMILL_SIGNING_KEY_FILE", raising=False)
    monkeypatch.delenv("CORPUSMILL_TRUSTED_KEYS", raising=False)
    monkeypatch.setenv("CORPUSMILL_CATALOG", str(cat))
    monkeypatch.chdir(tmp_path)
    return Env(cat, built_catalog.mid, built_catalog.keys, tmp_path)


@pytest.fixture(scope="session")
def tiny_tokenizer(built_catalog, tmp_path_factory) -> Path:
    """A 600-token BPE trained on the built catalog's manifest: shared by the tokenize and mix tests."""
    out = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CORPUSMILL_KEY_DIR", str(built_catalog.keys))
        cm("tokenizer", "train", built_catalog.mid, "--vocab-size", "600", "--out", str(out),
           "--catalog", str(built_catalog.catalog), "--allow-unapproved")
    return out
