"""Duplicate YAML keys and repeated stages are config errors (issue #16: a second `licence:` or
`exclude:` silently overrode the first and bypassed the licence policy)."""

from __future__ import annotations

import pytest

from corpusmill_base.errors import ConfigError
from pipelines.config import load_config

BASE = """\
name: x
purpose: {description: t, uses: [commercial]}
sources:
  - id: a
    paths: [in/]
    format: jsonl
    provenance:
      owner: x
      acquisition: owned
      licence: CC-BY-NC-4.0
"""


@pytest.mark.parametrize(
    ("extra", "key", "lines"),
    [
        ("      licence: CC0-1.0\n", "licence", (10, 11)),
        ("exclude: {a: first}\nexclude: {}\n", "exclude", (11, 12)),
        ("    format: csv\n", "format", (6, 11)),
    ],
)
def test_a_key_given_twice_names_both_lines(tmp_path, extra, key, lines):
    cfg = tmp_path / "p.yaml"
    cfg.write_text(BASE + extra)
    with pytest.raises(ConfigError) as e:
        load_config(cfg)
    msg = str(e.value)
    assert f"line {lines[1]}" in msg and f"first on line {lines[0]}" in msg and repr(key) in msg


def test_a_stage_listed_twice_is_refused(tmp_path):
    cfg = tmp_path / "p.yaml"
    cfg.write_text(BASE + "stages: [normalize, exact_dedup, normalize]\n")
    with pytest.raises(ConfigError, match="listed once; repeated: normalize"):
        load_config(cfg)


def test_the_same_key_in_different_mappings_is_fine(tmp_path):
    cfg = tmp_path / "p.yaml"
    cfg.write_text(BASE + "  - id: b\n    paths: [in/]\n    format: jsonl\n    provenance: {owner: y, acquisition: owned, licence: CC0-1.0}\n")
    load_config(cfg)


def test_a_stage_option_naming_an_undeclared_source_is_refused(tmp_path):
    # pii's public_records is keyed by source id: a misspelt id would silently mask the source
    # it meant to exempt (or exempt nothing), so the config refuses it before any read.
    cfg = tmp_path / "p.yaml"
    stage = "stages:\n  - name: pii\n    public_records: {%s: court opinions are public records}\n"
    cfg.write_text(BASE + stage % "b")
    with pytest.raises(ConfigError, match="stage pii: public_records names sources that are not declared: b"):
        load_config(cfg)
    cfg.write_text(BASE + stage % "a")
    load_config(cfg)
