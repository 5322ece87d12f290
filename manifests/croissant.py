"""Croissant 1.0 JSON-LD for a manifest (https://mlcommons.org/croissant/1.0).

* ``distribution``: one ``cr:FileObject`` per shard (path, size, sha256) plus a ``cr:FileSet``
  over all shards that the record set reads;
* ``recordSet`` ``documents``: one field per document column, typed from the manifest's
  ``document_schema``;
* ``license``: one ``sc:CreativeWork`` per licence of the admitted sources, named by its SPDX id
  (so share-alike and non-commercial terms survive the export), with the SPDX page as ``url``,
  the licensor's own page (``licence_url``) as ``sameAs`` and the sources it covers in the
  description; each source in the provenance carries its own licence the same way;
* provenance with PROV-O: ``prov:wasDerivedFrom`` each source (owner as ``prov:wasAttributedTo``,
  licence, contract, input files with sha256), ``prov:wasGeneratedBy`` the curation activity
  (stages, models, code version), and ``prov:wasRevisionOf`` the predecessor after a takedown.

``contentUrl`` is relative to the JSON file by default (write it next to a ``corpusmill pull``)
or under ``base_url`` when given.
"""

from __future__ import annotations

import posixpath
from typing import Any

from manifests.manifest import megatron_files

CROISSANT_VERSION = "http://mlcommons.org/croissant/1.0"
PROV = "http://www.w3.org/ns/prov#"

# The @context published with the Croissant 1.0 specification, plus the PROV-O prefix.
CONTEXT: dict[str, Any] = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/",
    "equivalentProperty": "cr:equivalentProperty",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "samplingRate": "cr:samplingRate",
    "sc": "https://schema.org/",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
    "prov": PROV,
}

ARROW_TO_SCHEMA = {
    "string": "sc:Text",
    "large_string": "sc:Text",
    "int64": "sc:Integer",
    "int32": "sc:Integer",
    "int16": "sc:Integer",
    "int8": "sc:Integer",
    "uint64": "sc:Integer",
    "uint32": "sc:Integer",
    "double": "sc:Float",
    "float": "sc:Float",
    "bool": "sc:Boolean",
}


def licence_url(licence: str | None, given: str | None = None) -> str:
    """The licence's SPDX page for an SPDX id; else the licensor's page, else the id itself."""
    if licence and not licence.startswith("LicenseRef-") and licence not in ("unknown", "NOASSERTION"):
        return f"https://spdx.org/licenses/{licence}.html"
    return given or licence or "unknown"


def licence_work(provenance: dict[str, Any], sources: list[str] | None = None) -> dict[str, Any]:
    """A schema.org CreativeWork for a source's licence: ``name`` is the SPDX id (or LicenseRef-…)."""
    spdx = provenance.get("licence") or "NOASSERTION"
    work: dict[str, Any] = {"@type": "sc:CreativeWork", "name": spdx, "url": licence_url(spdx, provenance.get("licence_url"))}
    if provenance.get("licence_url") and provenance["licence_url"] != work["url"]:
        work["sameAs"] = provenance["licence_url"]
    if sources:
        work["description"] = f"{spdx}: licence of source(s) {', '.join(sources)}"
    return work


_URL_SCHEMES = ("http", "https", "s3", "gs", "gcs", "az", "abfs", "hf", "file")


def check_base_url(base_url: str) -> str:
    """A ``--base-url`` every Croissant reader can fetch from: an absolute URL of a storage scheme,
    no whitespace or control characters (``javascript:alert(1)`` and a URL ending in a newline
    were written into ``contentUrl`` as given)."""
    from urllib.parse import urlsplit

    from corpusmill_base.errors import ConfigError

    parts = urlsplit(base_url)
    if parts.scheme not in _URL_SCHEMES or not (parts.netloc or parts.scheme == "file") or not base_url.isprintable() or any(c.isspace() for c in base_url):
        raise ConfigError(f"--base-url {base_url!r}: expected an absolute URL ({', '.join(s + '://' for s in _URL_SCHEMES)}) without spaces")
    return base_url


def to_croissant(manifest: dict[str, Any], base_url: str | None = None) -> dict[str, Any]:
    if base_url is not None:
        check_base_url(base_url)
    mid = manifest["id"]
    admitted = [s for s in manifest["sources"] if s["status"] == "admitted" and s["counts"]["kept"] > 0]

    def url(rel: str) -> str:
        return f"{base_url.rstrip('/')}/{rel}" if base_url else rel

    files: list[dict[str, Any]] = [
        {
            "@type": "cr:FileObject",
            "@id": f"shard-{i:05d}",
            "name": f"shard-{i:05d}",
            "description": f"{s['rows']:,} documents",
            "contentUrl": url(s["path"]),
            "contentSize": f"{s['bytes']} B",
            "encodingFormat": "application/x-parquet",
            "sha256": s["sha256"],
        }
        for i, s in enumerate(manifest["shards"])
    ]
    # A derived manifest's shards are its side tables (megatron/<source>.parquet, for a blend
    # megatron/<split>/<source>.parquet): "shards/*.parquet" matched none of them, and mlcroissant
    # read 0 records from a pulled tokenized dataset or blend.
    globs = sorted({f"{posixpath.dirname(s['path'])}/*.parquet" for s in manifest["shards"]}) or ["shards/*.parquet"]
    files.append(
        {
            "@type": "cr:FileSet",
            "@id": "shards",
            "name": "shards",
            "description": "all shards of the release; each is listed above with its sha256",
            "encodingFormat": "application/x-parquet",
            "includes": globs[0] if len(globs) == 1 else globs,
        }
    )
    # The files a trainer actually reads (Megatron .bin/.idx, the tokenizer), each with its sha256.
    files += [
        {
            "@type": "cr:FileObject",
            "@id": f"megatron-{i:05d}",
            "name": f["path"],
            "description": "tokenizer file" if f["path"].startswith("tokenizer/") else "Megatron-Core indexed dataset file",
            "contentUrl": url(f["path"]),
            "contentSize": f"{f['bytes']} B",
            "encodingFormat": "application/json" if f["path"].endswith(".json") else "application/octet-stream",
            "sha256": f["sha256"],
        }
        for i, f in enumerate(megatron_files(manifest))
    ]
    fields = []
    unsupported = []
    for col in manifest["document_schema"]:
        dtype = ARROW_TO_SCHEMA.get(col["type"])
        if dtype is None:
            unsupported.append(col["name"])
            continue
        fields.append(
            {
                "@type": "cr:Field",
                "@id": f"documents/{col['name']}",
                "name": col["name"],
                "dataType": dtype,
                "source": {"fileSet": {"@id": "shards"}, "extract": {"column": col["name"]}},
            }
        )
    by_licence: dict[tuple[str, str | None], list[str]] = {}
    for s in admitted:
        p = s["provenance"]
        by_licence.setdefault((p.get("licence") or "NOASSERTION", p.get("licence_url")), []).append(s["id"])
    licences = [
        licence_work({"licence": spdx, "licence_url": page}, ids) for (spdx, page), ids in sorted(by_licence.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))
    ]
    purpose = manifest["purpose"]
    doc = {
        "@context": CONTEXT,
        "@type": "sc:Dataset",
        "@id": mid,
        "name": manifest["name"],
        "description": (
            f"{manifest['totals']['kept']:,} documents curated by corpusmill for: {purpose['description']} "
            f"(uses: {', '.join(purpose['uses'])}). Manifest {mid}."
        ),
        "conformsTo": CROISSANT_VERSION,
        "identifier": mid,
        "citeAs": f"corpusmill manifest {mid} ({manifest['name']}, {manifest.get('created_at')})",
        "version": "1.0.0",
        "datePublished": manifest.get("created_at"),
        "url": base_url or f"corpusmill:{mid}",
        "license": licences,
        "creativeWorkStatus": "takedown successor" if manifest.get("predecessor") else "release",
        "distribution": files,
        "recordSet": [
            {
                "@type": "cr:RecordSet",
                "@id": "documents",
                "name": "documents",
                "description": "one record per kept document"
                + (f"; columns not described (no Croissant type): {', '.join(unsupported)}" if unsupported else ""),
                "key": {"@id": "documents/id"},
                "field": fields,
            }
        ],
        "prov:wasDerivedFrom": [
            {
                "@type": "prov:Entity",
                "@id": f"source:{s['id']}",
                "name": s["id"],
                "prov:wasAttributedTo": {"@type": "prov:Agent", "name": s["provenance"].get("owner")},
                "license": licence_work(s["provenance"]),
                "acquisition": s["provenance"].get("acquisition"),
                "contract": s["provenance"].get("contract"),
                "expires": s["provenance"].get("expires"),
                "creditText": s["provenance"].get("attribution"),
                "hasPart": [{"name": f["path"], "sha256": f["sha256"], "contentSize": f"{f['bytes']} B"} for f in s.get("files", [])],
            }
            for s in admitted
        ]
        + [{"@type": "prov:Entity", "@id": pid, "name": f"corpusmill manifest {pid}"} for pid in manifest.get("parents", [])],
        "prov:wasGeneratedBy": {
            "@type": "prov:Activity",
            "@id": f"curation:{mid}",
            "name": "corpusmill curation run",
            "prov:startedAtTime": manifest.get("created_at"),
            "prov:wasAssociatedWith": {"@type": "prov:SoftwareAgent", "name": manifest.get("code_version")},
            "prov:used": [
                {"name": st["key"], "description": str(st.get("options", {}))} for st in manifest.get("stages", [])
            ]
            + [{"name": mo["name"], "sha256": mo.get("sha256")} for mo in manifest.get("models", [])],
        },
    }
    if manifest.get("predecessor"):
        doc["prov:wasRevisionOf"] = {"@id": manifest["predecessor"]}
    return doc
