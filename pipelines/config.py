"""Typed, validated pipeline configuration (YAML → pydantic).

Unknown keys and bad values are errors that name the file, the key and what was expected;
they are raised before anything is read.
"""

from __future__ import annotations

import codecs
import datetime as dt
import hashlib
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from corpusmill_base.errors import ConfigError
from corpusmill_base.hashing import canonical_json
from corpusmill_base.numbers import refuse_out_of_range
from corpusmill_base.text import printable
from filters.pii_fields import mask_identifiers, shown_name

Use = Literal["research", "pretraining", "commercial", "redistribution-of-derivatives"]
# public-download: fetched from a public place that states no licence (the policy then needs
# accept_unknown_licence with a reason).
Acquisition = Literal["owned", "purchased", "licensed", "public-domain", "open-licence", "public-download"]
Format = Literal["jsonl", "json", "csv", "tsv", "txt", "parquet", "pubtator", "html", "pdf", "docx", "hwp", "hwpx", "auto"]
DOCUMENT_FORMATS = ("pdf", "docx", "hwp", "hwpx", "auto")  # auto: pdf/docx/hwp/hwpx by content, per file


def text_codec(name: str, allow_auto: bool = False) -> str:
    """``name`` if it is a text encoding Python knows (or ``auto``), else ``ValueError``.

    Checked at load: a misspelt codec (`cp494`) or a bytes-to-bytes one (`base64`, `rot13`) was
    taken by the config and `--dry-run`, and the run then quarantined every file of the source
    (`reader failed (LookupError)`) and published a manifest without its documents.
    """
    if allow_auto and name.lower() == "auto":
        return name
    try:
        info = codecs.lookup(name)
    except LookupError:
        raise ValueError(f"unknown encoding {printable(name)!r} (auto, or a Python codec name such as utf-8, cp949, euc-kr)") from None
    if not info._is_text_encoding:  # base64, rot13, zlib …: not bytes ↔ text
        raise ValueError(f"{printable(name)!r} is not a text encoding (auto, or a codec such as utf-8, cp949, euc-kr)")
    try:
        ascii_compatible = _ASCII.encode().decode(info.name, errors="replace") == _ASCII
    except UnicodeError:  # idna takes no error handler
        ascii_compatible = False
    if not ascii_compatible:
        # UTF-16/32, EBCDIC: the readers split lines and fields on ASCII bytes (a UTF-16 header read as `id\ufffd`)
        raise ValueError(f"{printable(name)!r} is not ASCII-compatible; the readers take UTF-8, CP949/EUC-KR and other "
                         "ASCII-compatible encodings: convert the files to UTF-8")
    if not _reads_line_by_line(info.name):
        # ISO-2022-KR declares its character set once at the top and shifts in and out of it: a line
        # cut from the file is not readable alone (nor idna/punycode, nor unicode_escape's lines)
        raise ValueError(f"{printable(name)!r} cannot be read a line at a time (a stateful encoding); the readers take "
                         "UTF-8, CP949/EUC-KR and other ASCII-compatible encodings: convert the files to UTF-8")
    return name


def _reads_line_by_line(codec: str) -> bool:
    """Whether the second of two lines encoded together decodes alone to itself (review, session 13)."""
    for line in ("가 A+\\~{", "A+\\~{"):
        try:
            encoded = f"{line}\n{line}".encode(codec)
        except UnicodeError:
            continue  # cannot encode Hangul: try without
        pieces = encoded.split(b"\n")
        try:
            return len(pieces) == 2 and pieces[1].decode(codec) == line
        except UnicodeError:
            return False
    return False


_ASCII = "\t\n\r !\"#,:;[]{}0123456789AZaz"


def _one_character(v: str | None) -> str | None:
    if v is not None and len(v) != 1:
        raise ValueError(f"delimiter must be one character (got {printable(v)!r})")
    return v


#: A source's or benchmark's ``encoding``: ``auto`` or a text codec the readers can use (:func:`text_codec`).
EncodingName = Annotated[str, AfterValidator(lambda v: text_codec(v, allow_auto=True))]
#: A CSV/TSV delimiter: one character, or None for the format's own.
Delimiter = Annotated[str | None, AfterValidator(_one_character)]


def field_names(v: str | list[str]) -> str | list[str]:
    """A text field, or a non-empty list of them, each non-empty (an empty one matched no field,
    and every record of the source was quarantined as empty or missing it)."""
    names = [v] if isinstance(v, str) else v
    if not names or any(not n for n in names):
        raise ValueError("text_field must name a field (or a non-empty list of fields), not an empty string or list")
    return v


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _numbers_in_range(cls, data: Any) -> Any:
        return refuse_out_of_range(data)


class Provenance(_Strict):
    owner: str = Field(description="owner or licensor")
    acquisition: Acquisition
    licence: str | None = Field(
        default=None, description="SPDX identifier (or LicenseRef-…); null or 'unknown' when none is stated"
    )
    licence_url: str | None = None
    contract: str | None = Field(default=None, description="contract or order reference")
    permitted_uses: list[Use] | None = Field(
        default=None, description="uses the contract/licence grants; defaults to what the licence implies"
    )
    expires: dt.date | None = None
    attribution: str | None = None
    notes: str | None = None


class PdfOptions(_Strict):
    """``format: pdf`` (and PDFs under ``auto``): clean-up of the text layer (docs/documents.md)."""

    remove_repeated_lines: bool = Field(default=True, description="running heads/footers and page numbers repeated at page edges")
    join_hyphenated: bool = Field(default=True, description="join a word hyphenated across a line break")
    remove_line_numbers: bool = Field(default=True, description="a margin of line numbers 1, 2, 3, … (transcripts)")


class DocxOptions(_Strict):
    """``format: docx``: what besides the body paragraphs is text."""

    headers_footers: bool = False
    footnotes: bool = False
    comments: bool = False
    tables: Literal["inline", "separate", "omit"] = Field(
        default="inline", description="separate: each table its own document (locator `table N`)"
    )


class HwpOptions(_Strict):
    """``format: hwp`` / ``hwpx``."""

    footnotes: bool = Field(default=True, description="footnote texts appended after the body (markers [^N] kept)")


class Source(_Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    paths: list[str] = Field(min_length=1, description="local paths, globs or fsspec URLs")
    format: Format
    compression: Literal["auto", "none", "gzip", "zstd", "bzip2", "xz"] = "auto"
    encoding: EncodingName = "auto"
    # For a delivery whose files differ: file (relative to the source root, as recorded in
    # source_file) → encoding, e.g. {"inaugural/2005-Bush.txt": big5}.
    encoding_overrides: dict[str, str] = Field(default_factory=dict)
    text_field: str | list[str] = "text"
    id_field: str | None = None
    # json: where the records are, e.g. "data[].paragraphs[]" (a trailing ".field" selects the text)
    record_path: str | None = None
    # csv/tsv
    delimiter: Delimiter = None
    header: bool = True
    columns: list[str] | None = None
    # txt; documents: file | page (pdf) | heading
    split: Literal["file", "line", "blank_line", "heading", "page"] = "file"
    heading_pattern: str | None = None
    # html
    html_field: str | None = None
    # office documents (format pdf | docx | hwp | hwpx | auto)
    pdf: PdfOptions = PdfOptions()
    docx: DocxOptions = DocxOptions()
    hwp: HwpOptions = HwpOptions()
    lang: str | None = None
    expected_langs: list[str] | None = None
    domain: str | None = None
    priority: int | None = Field(default=None, description="keep-rule priority for duplicates; lower wins")
    provenance: Provenance

    @field_validator("paths")
    @classmethod
    def _non_empty(cls, v: list[str]) -> list[str]:
        if any(not p.strip() for p in v):
            raise ValueError("paths must not contain empty strings")
        return v

    @field_validator("encoding_overrides")
    @classmethod
    def _known_codecs(cls, v: dict[str, str]) -> dict[str, str]:
        for path, name in v.items():
            try:
                text_codec(name)
            except ValueError as e:
                raise ValueError(f"encoding_overrides: {e} for {shown_name(path)!r}") from None
        return v

    @field_validator("text_field")
    @classmethod
    def _names_a_field(cls, v: str | list[str]) -> str | list[str]:
        return field_names(v)

    @field_validator("heading_pattern")
    @classmethod
    def _compiles(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as e:
                raise ValueError(f"heading_pattern is not a valid regular expression: {e}") from None
        return v

    @model_validator(mode="after")
    def _format_options(self) -> Source:
        documents = self.format in DOCUMENT_FORMATS
        if documents and self.split in ("line", "blank_line"):
            raise ValueError(f"split: {self.split} is for txt; documents split by file, page (pdf) or heading")
        if self.split == "page" and self.format not in ("pdf", "auto"):
            raise ValueError("split: page is for pdf (or auto, where it applies to the PDFs)")
        if self.split == "heading" and not self.heading_pattern and self.format not in ("docx", "auto"):
            raise ValueError("split: heading needs heading_pattern (a regex matching a document's first line)")
        if self.format == "txt" and isinstance(self.text_field, list):
            raise ValueError("text_field lists are for csv/tsv/jsonl/parquet, not txt")
        if self.format in ("csv", "tsv") and not self.header and not self.columns:
            raise ValueError("csv/tsv with header: false needs columns: [names]")
        return self

    @property
    def text_fields(self) -> list[str]:
        return [self.text_field] if isinstance(self.text_field, str) else list(self.text_field)


class BenchmarkProvenance(_Strict):
    licence: str = Field(description="SPDX identifier (or LicenseRef-…) of the benchmark")
    origin: str = Field(description="where the files come from (repository, dataset card)")
    notes: str | None = None


class Benchmark(_Strict):
    """An evaluation set the `decontaminate` stage keeps out of the output (read like a source).

    An item is either ``question_field`` + ``choice_fields`` (+ ``answer_field`` naming the
    correct choice) or the ``text_field`` text. Its text never reaches the manifest: only the
    files' sha256 and the item count do.
    """

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    paths: list[str] = Field(min_length=1, description="local paths, globs or fsspec URLs")
    format: Format
    compression: Literal["auto", "none", "gzip", "zstd"] = "auto"
    encoding: EncodingName = "auto"
    record_path: str | None = None
    delimiter: Delimiter = None
    header: bool = True
    columns: list[str] | None = None
    text_field: str | list[str] | None = None
    question_field: str | None = None
    choice_fields: list[str] = Field(default_factory=list)
    answer_field: str | None = None
    answer_format: Literal["index1", "index0", "letter", "text"] = Field(
        default="index1", description="how answer_field names the correct choice: 1-based index, 0-based, A-D, or its text"
    )
    id_field: str | None = Field(default=None, description="item id field; default the record's place in the file")
    provenance: BenchmarkProvenance

    @field_validator("text_field")
    @classmethod
    def _names_a_field(cls, v: str | list[str] | None) -> str | list[str] | None:
        return None if v is None else field_names(v)

    @model_validator(mode="after")
    def _item_fields(self) -> Benchmark:
        if (self.text_field is None) == (self.question_field is None):
            raise ValueError("a benchmark needs exactly one of text_field (text items) or question_field (questions)")
        if self.text_field is not None and (self.choice_fields or self.answer_field):
            raise ValueError("choice_fields/answer_field go with question_field, not text_field")
        if self.answer_field and not self.choice_fields:
            raise ValueError("answer_field needs choice_fields (the answer names one of them)")
        if len(self.choice_fields) > 15:
            raise ValueError("at most 15 choice_fields")
        if self.format not in ("jsonl", "json", "csv", "tsv", "parquet"):
            raise ValueError(f"benchmarks are read from records with fields (jsonl, json, csv, tsv, parquet), not {self.format}")
        return self

    @property
    def text_fields(self) -> list[str]:
        if self.text_field is None:
            return [self.question_field or "", *self.choice_fields]
        return [self.text_field] if isinstance(self.text_field, str) else list(self.text_field)


class Purpose(_Strict):
    description: str
    uses: list[Use] = Field(min_length=1, description="uses the output must be licensed for")


class Output(_Strict):
    dir: str = "runs/output"
    shard_target_mb: float = Field(default=128, gt=0)
    overwrite: bool = False


class Limits(_Strict):
    max_record_bytes: int = Field(default=16 * 1024 * 1024, gt=0)
    max_decompressed_bytes: int = Field(
        default=64 * 1024 * 1024 * 1024, gt=0, description="per compressed file; past it the file is quarantined (bomb)"
    )
    batch_size: int = Field(default=2048, gt=0)
    # office documents: a file past any of these is quarantined (too_large / document_bomb)
    document_max_bytes: int = Field(default=256 * 1024 * 1024, gt=0, description="file size read into memory")
    document_max_pages: int = Field(default=5000, gt=0, description="PDF page count")
    document_max_decompressed_bytes: int = Field(default=512 * 1024 * 1024, gt=0, description="DOCX/HWPX/HWP parts inflated")
    document_timeout_s: float = Field(default=60, gt=0, description="extraction time per file (in a child process)")
    document_memory_mb: int = Field(default=2048, ge=256, description="address-space ceiling of the extraction child")
    # A sample run (tests, trials of a config on real deliveries), never a release: about N records
    # of each source — its first N files, each read up to its share of N (N // files; the first
    # N % files one more) — so a source of many one-record files and a source of one big file both
    # give N. What is not read is not in the ledger; the setting is part of the config digest, so a
    # sample never shares a manifest ID with the full run. The CI test of the shared deliveries runs
    # the real research config with N = 60 (docs/shared-deliveries.md).
    sample_per_source: int | None = Field(
        default=None, gt=0, description="sample run: about N records of each source (first N files, an equal share of N each)"
    )


class RayOptions(_Strict):
    """How the Ray engine runs; none of it changes the output (kept out of the config digest)."""

    address: str | None = Field(
        default=None, description="cluster to join (`auto`, `host:port`, `ray://host:10001`); default $RAY_ADDRESS, else a local cluster"
    )
    num_cpus: int | None = Field(default=None, gt=0, description="CPUs of a local cluster (default: all)")
    object_store_mb: int = Field(default=500, gt=0, description="object store of a local cluster")
    actors: int = Field(default=2, gt=0, description="actors per map-stage pool (each loads the models once)")


class BeamOptions(_Strict):
    """How the Beam engine runs; none of it changes the output (kept out of the config digest)."""

    runner: str = Field(default="FnApiRunner", description="FnApiRunner (in process) or a runner name, e.g. FlinkRunner")
    pipeline_args: list[str] = Field(default_factory=list, description="Beam pipeline options, e.g. --flink_master=host:8081")
    temp_location: str | None = Field(
        default=None, description="where workers leave results for the driver (shared storage such as gs:// on a cluster)"
    )


class StageSpec(_Strict):
    name: str
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _typed_options(self) -> StageSpec:
        # The stage's own options model decides (unknown or ill-typed keys fail here, at load).
        from filters.registry import STAGES, stage_class

        if self.name not in STAGES:
            raise ValueError(f"unknown stage {self.name!r}; expected one of: {', '.join(sorted(STAGES))}")
        try:
            stage_class(self.name).parse_options(self.options)
        except ConfigError as e:
            raise ValueError(str(e)) from None
        return self


DEFAULT_STAGES = ["normalize", "length", "exact_dedup"]


class PipelineConfig(_Strict):
    name: str
    purpose: Purpose
    sources: list[Source] = Field(min_length=1)
    exclude: dict[str, str] = Field(default_factory=dict, description="source id → why it is not read")
    accept_unknown_licence: dict[str, str] = Field(
        default_factory=dict, description="source id → why its unknown licence is accepted"
    )
    stages: list[StageSpec] = Field(default_factory=lambda: [StageSpec(name=n) for n in DEFAULT_STAGES])
    output: Output = Output()
    catalog: str | None = None
    engine: Literal["local", "ray", "beam"] = "local"
    workers: int | None = Field(
        default=None, ge=1, description="local engine: processes running units (default: the CPUs available); never changes the output"
    )
    ray: RayOptions = RayOptions()
    beam: BeamOptions = BeamOptions()
    limits: Limits = Limits()
    benchmarks: list[Benchmark] = Field(
        default_factory=list, description="evaluation sets kept out of the output by the decontaminate stage"
    )

    @field_validator("stages", mode="before")
    @classmethod
    def _stage_shorthand(cls, v: Any) -> Any:
        # `- normalize` or `- {name: length, min_chars: 5}` are both accepted.
        if not isinstance(v, list):
            return v
        out: list[Any] = []
        for item in v:
            if isinstance(item, str):
                out.append({"name": item})
            elif isinstance(item, dict) and "options" not in item:
                item = dict(item)
                name = item.pop("name", None)
                out.append({"name": name, "options": item})
            else:
                out.append(item)
        return out

    @field_validator("stages")
    @classmethod
    def _each_stage_once(cls, v: list[StageSpec]) -> list[StageSpec]:
        # One stage, one set of options and one manifest entry: a repeat is a config mistake.
        names = [s.name for s in v]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"each stage may be listed once; repeated: {', '.join(twice)}")
        return v

    @model_validator(mode="after")
    def _cross_checks(self) -> PipelineConfig:
        ids = [s.id for s in self.sources]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"source ids must be unique; repeated: {', '.join(dupes)}")
        for key, mapping in (("exclude", self.exclude), ("accept_unknown_licence", self.accept_unknown_licence)):
            unknown = sorted(set(mapping) - set(ids))
            if unknown:
                raise ValueError(f"{key} names sources that are not declared: {', '.join(unknown)}")
        for spec in self.stages:
            from filters.registry import stage_class

            for option, named in stage_class(spec.name).parse_options(spec.options).named_sources().items():
                unknown = sorted(set(named) - set(ids))
                if unknown:
                    raise ValueError(f"stage {spec.name}: {option} names sources that are not declared: {', '.join(unknown)}")
        bids = [b.id for b in self.benchmarks]
        if len(set(bids)) != len(bids):
            raise ValueError(f"benchmark ids must be unique; repeated: {', '.join(sorted({i for i in bids if bids.count(i) > 1}))}")
        if any(spec.name == "decontaminate" for spec in self.stages) and not self.benchmarks:
            raise ValueError("the decontaminate stage needs a `benchmarks:` section (the evaluation sets to keep out)")
        return self

    def source(self, source_id: str) -> Source:
        for s in self.sources:
            if s.id == source_id:
                return s
        raise KeyError(source_id)

    def digest_view(self) -> dict[str, Any]:
        """The config as it determines the output: output location and catalog left out."""
        data = self.model_dump(mode="json", exclude={"output": {"dir", "overwrite"}, "catalog": True, "engine": True, "workers": True, "ray": True, "beam": True})
        # Document options and limits only where documents are read: a text-only config keeps
        # the digest (and manifest ID) it had before these formats existed.
        for src in data["sources"]:
            if src["format"] not in DOCUMENT_FORMATS:
                for key in ("pdf", "docx", "hwp"):
                    src.pop(key, None)
        if not any(s.format in DOCUMENT_FORMATS for s in self.sources):
            data["limits"] = {k: v for k, v in data["limits"].items() if not k.startswith("document_")}
        if data["limits"].get("sample_per_source") is None:  # a full run keeps the digest it had before samples existed
            data["limits"].pop("sample_per_source", None)
        # This view is the manifest's `config`: a path naming a file after a person
        # (`in/kim.lee@example.com.jsonl`) reached it raw while the file list masked the name
        # (session 13). Masked like file names; the inputs' sha256 still tell two runs apart.
        for entry in [*data["sources"], *data["benchmarks"]]:
            entry["paths"] = [mask_identifiers(p, what=f"a path of {entry.get('id')!r}") or p for p in entry["paths"]]
            if "encoding_overrides" in entry:
                entry["encoding_overrides"] = {mask_identifiers(k) or k: v for k, v in entry["encoding_overrides"].items()}
        return data

    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(canonical_json(self.digest_view()).encode()).hexdigest()


def _format_loc(loc: tuple[Any, ...], raw: Any) -> str:
    parts: list[str] = []
    node = raw
    for item in loc:
        if isinstance(item, int):
            label = ""
            if isinstance(node, list) and item < len(node) and isinstance(node[item], dict) and "id" in node[item]:
                label = f"(id={printable(node[item]['id'])})"
            elif isinstance(node, list) and item < len(node) and isinstance(node[item], dict) and "name" in node[item]:
                label = f"(name={printable(node[item]['name'])})"
            parts[-1:] = [f"{parts[-1] if parts else ''}[{item}]{label}"]
            node = node[item] if isinstance(node, list) and item < len(node) else None
        else:
            parts.append(printable(item))  # a user's key: a newline in it must not print as a line
            node = node.get(item) if isinstance(node, dict) else None
    return ".".join(parts) or "(top level)"


def _explain(err: Any) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    msg = err["msg"].removeprefix("Value error, ")
    if "input" in err and kind not in ("value_error",) and not isinstance(err["input"], (dict, list)):
        msg += f" (got {err['input']!r})"
    return msg


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping.

    PyYAML keeps the last value silently, so `licence: CC-BY-NC-4.0` followed by
    `licence: CC0-1.0`, or a second `exclude:` block, admitted a non-commercial source for
    commercial use without a word.
    """

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor`: keys it brings may be overridden
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    if key in seen:  # also on one line: `{weight: 1, weight: 9}`
                        raise _DuplicateKey(key, seen[key], key_node.start_mark.line + 1)
                    seen[key] = key_node.start_mark.line + 1
                except TypeError:
                    continue  # unhashable key: the schema refuses it later
        return super().construct_mapping(node, deep)


class _DuplicateKey(Exception):
    def __init__(self, key: Any, first: int, second: int):
        super().__init__(key, first, second)
        self.key, self.first, self.second = key, first, second


class _AliasProblem(Exception):
    def __init__(self, message: str, line: int):
        super().__init__(message)
        self.line = line


#: Values a config may expand to through YAML aliases (`*name`); real configs hold a few thousand.
MAX_YAML_VALUES = 1_000_000
#: Nesting a config may have (ours: 5 levels); 600 levels ended the load in a RecursionError.
MAX_YAML_DEPTH = 100


def _check_aliases(root: yaml.Node | None) -> None:
    """Refuse a YAML graph nested past :data:`MAX_YAML_DEPTH` levels, or whose aliases refer to
    themselves or expand past :data:`MAX_YAML_VALUES` values (session 13: `notes: &n [*n]` ended the load in a
    RecursionError traceback; eight levels of ten aliases each — 10^8 values from 80 — kept the
    number check busy for minutes). Sizes are counted once per node, so the check is linear."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: yaml.Node, depth: int = 0) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if depth > MAX_YAML_DEPTH:
            raise _AliasProblem(f"values nested more than {MAX_YAML_DEPTH} levels deep", node.start_mark.line + 1)
        if key in active:
            raise _AliasProblem("an alias refers to the value that contains it (a recursive YAML structure)", node.start_mark.line + 1)
        active.add(key)
        children: list[yaml.Node] = []
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        total = 1
        for child in children:
            total += size(child, depth + 1)
            if total > MAX_YAML_VALUES:
                raise _AliasProblem(f"its aliases expand to more than {MAX_YAML_VALUES:,} values; write the values out", node.start_mark.line + 1)
        active.discard(key)
        sizes[key] = total
        return total

    if root is not None:
        size(root)


def read_yaml_mapping(path: Path, what: str = "config") -> dict[str, Any]:
    """A YAML file's top-level mapping, or one :class:`ConfigError` naming the file and line:
    not found, not UTF-8, invalid YAML, a key given twice in one mapping, not a mapping."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} file not found") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: {what} is not UTF-8 ({e})") from None
    try:
        _check_aliases(yaml.compose(text, Loader=_UniqueKeyLoader))  # noqa: S506 — a SafeLoader subclass
        raw = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 — a SafeLoader subclass
    except _AliasProblem as e:
        raise ConfigError(f"{path}: line {e.line}: {e}") from None
    except RecursionError:  # PyYAML's composer recurses per level: a few hundred levels are enough
        raise ConfigError(f"{path}: values nested too deeply (more than {MAX_YAML_DEPTH} levels)") from None
    except _DuplicateKey as e:
        raise ConfigError(
            f"{path}: line {e.second}: key {str(e.key)!r} is given twice in one mapping (first on line {e.first}); "
            "remove one — a repeated key would silently override the first"
        ) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}:{where} invalid YAML: {getattr(e, 'problem', e)}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(raw).__name__}")
    return raw


def load_config(path: str | os.PathLike[str], overrides: dict[str, Any] | None = None) -> tuple[PipelineConfig, Path]:
    """Load and validate a pipeline config; returns the config and its directory (paths are relative to it)."""
    path = Path(path)
    raw = read_yaml_mapping(path)
    for key, value in (overrides or {}).items():
        raw[key] = value
    try:
        cfg = PipelineConfig.model_validate(raw)
    except ValidationError as e:
        lines = [f"{path}: {_format_loc(err['loc'], raw)}: {_explain(err)}" for err in e.errors()]
        if len(lines) == 1:
            raise ConfigError(f"invalid config: {lines[0]}") from None
        raise ConfigError("invalid config\n  " + "\n  ".join(lines)) from None
    return cfg, path.resolve().parent
