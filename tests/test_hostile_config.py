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
        # a flow mapping on one line: its two keys share the line (missed before the session-10 fuzzing)
        ("  - id: b\n    paths: [in/]\n    format: jsonl\n    provenance: {owner: y, acquisition: owned, licence: CC-BY-NC-4.0, "
         "licence: CC0-1.0}\n", "licence", (14, 14)),
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


def test_a_newline_in_a_source_id_stage_name_or_key_stays_on_its_error_line(tmp_path):
    # each error is one line: a user's id, stage name or key with a newline in it is escaped in the
    # location label too, not only in the "(got …)" part (session 11: `sources[0](id=x` + newline)
    cfg = tmp_path / "p.yaml"
    cfg.write_text(BASE.replace("id: a", 'id: "x\\nforged: line"') + 'stages: [{name: "a\\nb"}]\n"k\\ney": 1\n')
    with pytest.raises(ConfigError) as e:
        load_config(cfg)
    lines = str(e.value).splitlines()
    assert lines[0] == "invalid config"
    assert all(line.startswith(f"  {cfg}: ") for line in lines[1:]), lines
    assert any("sources[0](id=x\\nforged: line).id:" in line for line in lines)
    assert any("stages[0](name=a\\nb):" in line for line in lines)
    assert any(": k\\ney: unknown key" in line for line in lines)


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
        ("stages:\n  - {name: quality_heuristics, max_digit_ratio: .nan}\n", "stages[0].max_digit_ratio"),  # was accepted
        ("stages:\n  - {name: langid, min_score: .nan}\n", "stages[0].min_score"),  # NaN is no JSON for the digest
        ("stages:\n  - {name: langid, min_score: {ko: .inf, default: 0.5}}\n", "stages[0].min_score.ko"),
    ],
)
def test_numbers_past_int64_or_not_finite_are_config_errors_naming_the_key(tmp_path, extra, where):
    # Found by fuzzing every number of the demo config with 10**30, 2**63, ±inf: the priorities and
    # the shard size ended the run with a traceback, a NaN ratio was accepted (the langid cases were
    # refused by their own bounds before, with another message); now one error at load.
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
    # the fixed pin of lid.176.ftz is checked against the file too (it was printed unchecked)
    (tmp_path / "p.yaml").write_text(BASE.replace("CC-BY-NC-4.0", "CC0-1.0") + "stages: [langid]\n")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "lid.176.ftz").write_text("garbage")
    bad = cli("run", "p.yaml", "--dry-run", cwd=tmp_path, check=False, env={"CORPUSMILL_MODEL_DIR": str(tmp_path / "models")})
    assert bad.returncode == 3 and "lid.176.ftz has sha256" in bad.stderr


MIX = """\
name: blend
purpose: {description: t, uses: [pretraining]}
inputs:
  - {manifest: cm-0123456789abcdef, weight: 1}
"""


@pytest.mark.parametrize(
    ("text", "match"),
    [
        # a weight given twice in a blend kept the last one silently (plain yaml.safe_load)
        (MIX.replace("weight: 1}", "weight: 1, weight: 9}"), r"line 4: key 'weight' is given twice"),
        (MIX.replace("weight: 1", "weight: .inf"), r"inputs\[0\]\.weight: numbers must be finite"),
        (MIX + "budget_tokens: 100000000000000000000\n", r"budget_tokens: numbers must be finite"),
    ],
)
def test_a_mix_file_is_held_to_the_pipeline_configs_rules(tmp_path, text, match):
    from pipelines.mix import load_mix

    (tmp_path / "mix.yaml").write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_mix(tmp_path / "mix.yaml")
    (tmp_path / "ok.yaml").write_text(MIX)
    assert load_mix(tmp_path / "ok.yaml").inputs[0].weight == 1
    # YAML merge keys stay usable (the duplicate-key check must not read `<<` as a key)
    (tmp_path / "merge.yaml").write_text(MIX.replace("inputs:\n  - {manifest: cm-0123456789abcdef, weight: 1}",
                                                     "common: &c {weight: 2}\ninputs:\n  - {<<: *c, manifest: cm-0123456789abcdef, weight: 3}"))
    with pytest.raises(ConfigError, match="common"):  # the anchor's holder is an unknown key, not a YAML error
        load_mix(tmp_path / "merge.yaml")


def test_a_blend_drawing_more_than_int64_tokens_is_refused():
    # `epochs: 1e300` was taken: the manifest recorded a 305-digit train token count (session 11)
    from pipelines.mix import Input, MixConfig, Part, _plan_tokens

    cfg = MixConfig.model_validate({"name": "m", "purpose": {"description": "t", "uses": ["pretraining"]},
                                    "inputs": [{"manifest": "cm-0123456789abcdef", "epochs": 1e300}]})
    part = Part(0, cfg.inputs[0], {}, {"source": "st"})
    with pytest.raises(ConfigError, match=r"would draw 2\.15e\+304 train tokens; a blend draws at most 9,223,372,036,854,775,807"):
        _plan_tokens(cfg, [part], {"st": 21_483})
    ok = MixConfig.model_validate({**cfg.model_dump(), "inputs": [Input(manifest="cm-0123456789abcdef", epochs=4).model_dump()]})
    assert _plan_tokens(ok, [Part(0, ok.inputs[0], {}, {"source": "st"})], {"st": 21_483}) == (85_932, {"st": 85_932})


@pytest.mark.parametrize(
    ("extra", "where", "match"),
    [
        ("    encoding: cp494\n", "sources[0](id=a).encoding", "unknown encoding 'cp494'"),
        ("    encoding: base64\n", "sources[0](id=a).encoding", "'base64' is not a text encoding"),
        ("    encoding_overrides: {x.jsonl: rot13}\n", "sources[0](id=a).encoding_overrides", "'rot13' is not a text encoding"),
        ("    encoding: iso2022_kr\n", "sources[0](id=a).encoding", "cannot be read a line at a time"),  # review, session 13
        ("    encoding: idna\n", "sources[0](id=a).encoding", "'idna' is not ASCII-compatible"),
        ("    encoding: unicode_escape\n", "sources[0](id=a).encoding", "cannot be read a line at a time"),
        ("    split: heading\n    heading_pattern: '(第'\n", "sources[0](id=a).heading_pattern", "not a valid regular expression"),
        ("    text_field: []\n", "sources[0](id=a).text_field", "must name a field"),
        ("    text_field: [title, '']\n", "sources[0](id=a).text_field", "must name a field"),
        ("    delimiter: ';;'\n", "sources[0](id=a).delimiter", "one character"),
    ],
)
def test_source_values_that_would_quarantine_every_file_are_config_errors(tmp_path, extra, where, match):
    # Session 13: each of these passed the config and `--dry-run`; the run then quarantined every
    # file of the source (`reader failed (LookupError)`, `reader failed (error)`, `empty document`)
    # and published a manifest without its documents. Now one error at load, naming the key.
    cfg = tmp_path / "p.yaml"
    cfg.write_text(BASE.replace("      licence: CC-BY-NC-4.0\n", "      licence: CC-BY-NC-4.0\n" + extra))
    with pytest.raises(ConfigError, match=rf"{re.escape(where)}: .*{re.escape(match)}"):
        load_config(cfg)


def test_a_benchmarks_encoding_and_text_field_are_checked_too(tmp_path):
    bench = "benchmarks:\n  - {id: b, paths: [e.jsonl], format: jsonl, text_field: text, encoding: utf8x, provenance: {licence: MIT, origin: o}}\n"
    (tmp_path / "p.yaml").write_text(BASE + bench)
    with pytest.raises(ConfigError, match=r"benchmarks\[0\]\(id=b\)\.encoding: unknown encoding"):
        load_config(tmp_path / "p.yaml")
    assert load_config(_with(tmp_path, BASE + bench.replace("utf8x", "EUC_KR")))[0].benchmarks[0].encoding == "EUC_KR"


def _with(tmp_path, text: str):
    (tmp_path / "q.yaml").write_text(text)
    return tmp_path / "q.yaml"


def test_a_length_range_that_drops_everything_is_a_config_error(tmp_path):
    # Session 13: min_chars above max_chars (min_chars: 2000000 with the default max) was taken and
    # the run dropped every document as too_short or too_long.
    (tmp_path / "p.yaml").write_text(BASE + "stages:\n  - {name: length, min_chars: 2000000}\n")
    with pytest.raises(ConfigError, match=r"stages\[0\]\(name=length\): stage length: min_chars \(2000000\) is above max_chars \(1000000\)"):
        load_config(tmp_path / "p.yaml")
    (tmp_path / "p.yaml").write_text(BASE + "stages:\n  - {name: length, min_chars: 5, max_chars: 5}\n")
    assert load_config(tmp_path / "p.yaml")[0].stages[0].options == {"min_chars": 5, "max_chars": 5}


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        # eight levels of ten aliases: 10**8 values from 80 lines kept the number check busy for minutes
        ("x0: &a0 [v, v, v, v, v, v, v, v, v, v]\n" + "".join(f"x{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 8)),
         r"line 1\d: its aliases expand to more than 1,000,000 values"),
        ("x: &n [*n]\n", r"line 11: an alias refers to the value that contains it"),  # was a RecursionError traceback
        ("x: " + "[" * 600 + "]" * 600 + "\n", r"nested too deeply"),  # was a RecursionError traceback
        ("x: " + "[" * 150 + "]" * 150 + "\n", r"line 11: values nested more than 100 levels deep"),
    ],
)
def test_yaml_alias_bombs_recursive_aliases_and_deep_nesting_are_config_errors(tmp_path, extra, match):
    (tmp_path / "p.yaml").write_text(BASE + extra)
    with pytest.raises(ConfigError, match=match):
        load_config(tmp_path / "p.yaml")


def test_aliases_within_the_limits_still_load(tmp_path):
    second = "  - id: b\n    paths: [in/]\n    format: jsonl\n    provenance: *prov\n"
    text = BASE.replace("    provenance:\n", "    provenance: &prov\n") + second
    (tmp_path / "p.yaml").write_text(text)
    cfg, _ = load_config(tmp_path / "p.yaml")
    assert cfg.sources[1].provenance == cfg.sources[0].provenance
