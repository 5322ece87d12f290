"""Duplicate YAML keys and repeated stages are config errors (issue #16: a second `licence:` or
`exclude:` silently overrode the first and bypassed the licence policy)."""

from __future__ import annotations

import re

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


@pytest.mark.parametrize(
    ("extra", "where"),
    [
        ("    priority: 1000000000000000000000000000000\n", "sources[0].priority"),  # pyarrow OverflowError in the keep rule
        ("    priority: -9223372036854775809\n", "sources[0].priority"),
        ("output: {shard_target_mb: .inf}\n", "output.shard_target_mb"),  # int(inf) in the shard writer
        ("stages:\n  - {name: langid, min_score: .nan}\n", "stages[0].min_score"),  # NaN is no JSON for the digest
        ("stages:\n  - {name: langid, min_score: {ko: .inf, default: 0.5}}\n", "stages[0].min_score.ko"),
    ],
)
def test_numbers_past_int64_or_not_finite_are_config_errors_naming_the_key(tmp_path, extra, where):
    # Before, each of these passed validation and ended the run with a traceback (found by fuzzing
    # every number of the demo config with 10**30, 2**63, ±inf): now one error at load.
    cfg = tmp_path / "p.yaml"
    cfg.write_text(BASE + extra)
    with pytest.raises(ConfigError, match=rf"{re.escape(where)}: numbers must be finite"):
        load_config(cfg)


def test_stage_options_refuse_out_of_range_numbers_outside_a_config_too():
    # the file commands (`corpusmill scrub --option …`) build options without a pipeline config
    from filters.registry import stage_class

    with pytest.raises(ConfigError, match="max_chars"):
        stage_class("length").parse_options({"max_chars": 2**64})
    assert stage_class("length").parse_options({"max_chars": 2**63 - 1}).max_chars == 2**63 - 1


def test_dry_run_checks_the_models_and_escapes_control_characters_in_the_error(tmp_path):
    # A model name with an ANSI escape and a NUL, not present: `--dry-run` now checks every model
    # the stages will load (before, a missing model surfaced only once the run reached its stage),
    # and the error quotes the name escaped (a terminal must not interpret it).
    from tests.conftest import cli

    stage = 'stages:\n  - {name: quality_classifier, model: "%s"}\n'
    (tmp_path / "p.yaml").write_text(BASE.replace("CC-BY-NC-4.0", "CC0-1.0") + stage % "q\\e[31m\\0.bin")
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_text('{"text": "x"}\n')
    res = cli("run", "p.yaml", "--dry-run", cwd=tmp_path, check=False)
    assert res.returncode != 0 and "\x1b" not in res.stderr and "\x00" not in res.stderr
    assert res.stderr.startswith("corpusmill: error: quality model") and "q\\x1b[31m\\x00.bin is missing" in res.stderr
    (tmp_path / "p.yaml").write_text(BASE.replace("CC-BY-NC-4.0", "CC0-1.0") + stage % "quality-demo.bin")
    ok = cli("run", "p.yaml", "--dry-run", cwd=tmp_path)  # built by `make setup`
    assert "models (present, sha256 checked): quality-demo.bin " in ok.stdout
