"""Personal data outside the text: vendor record ids, file names and the keys an error message
would echo (issue #16).

A vendor's ``source_record_id`` can be a resident registration number (``900101-1234568``) and a
file can be named after a phone number (``01012345678.jsonl``); both travel into shards, the
ledger and the manifest. Ingest passes them through :func:`mask_identifiers`, which runs the
``pii`` stage's structured recognizers (checksummed RRN/FRN/BRN, phone, e-mail, card) — no NLP,
built once per process — and replaces what they find by ``<TYPE>``. Error messages name a field
by its position and a short hash (:func:`field_names`), never by the key itself.
"""

from __future__ import annotations

import functools
import hashlib
import re

from corpusmill_base.errors import ConfigError
from corpusmill_base.text import printable
from filters.identifier_shapes import identifier_shaped

#: Only strings with one of these can hold a structured identifier: most ids and file names skip the recognizers.
_MAYBE = re.compile(r"\d{7,}|\d[\d.\- ]{8,}\d|@")
_DIGIT = re.compile(r"\d")
#: Fewer digits than any identifier ``mask_identifiers`` can mask (an RRN has 13, a card 14, a
#: Seoul landline 02-123-4567 9): NSMC's 7- and 8-digit review ids passed ``_MAYBE`` and ran all
#: six recognizers — 170,000 ids, most of ingest's time on the 20 MB sample (issue #21's profile),
#: and a run without ``pii`` imported Presidio for them (~1 CPU-s per worker). A representative
#: number (1588-1234) has 8 digits but only 9 characters, which ``_MAYBE`` never passed, so 8
#: digits are skipped too (the second review checked 3,000 random 8–9-digit strings: no change).
_MIN_DIGITS = 9
#: Minimum score per type (the stage's defaults; a bank account needs context, which a bare id has not).
_MIN_SCORE = {"KR_RRN": 0.5, "KR_FRN": 0.5, "KR_BRN": 0.5, "PHONE_NUMBER": 0.4, "EMAIL_ADDRESS": 0.5, "CREDIT_CARD": 0.5}


@functools.lru_cache(maxsize=None)
def _recognizers():
    from filters.pii_recognizers import (
        KoBrnRecognizer,
        KoCreditCardRecognizer,
        KoEmailRecognizer,
        KoFrnRecognizer,
        KoPhoneRecognizer,
        KoRrnRecognizer,
    )

    return [KoRrnRecognizer(), KoFrnRecognizer(), KoBrnRecognizer(), KoPhoneRecognizer(), KoEmailRecognizer(), KoCreditCardRecognizer()]


_MAX_CUTS = 12  # dots after an "@" tried per part of a name (a domain and its extensions)


def mask_identifiers(value: str | None, *, by_shape_without_presidio: bool = False, what: str = "a file name, path or record id") -> str | None:
    """``value`` with every structured identifier replaced by ``<TYPE>`` (``900101-1234568`` →
    ``<KR_RRN>``, ``data/01012345678.jsonl`` → ``data/<PHONE_NUMBER>.jsonl``).

    The recognizers are Presidio's. Without it (an install without the ``pii`` extra) a value that
    could hold an identifier is a :class:`ConfigError` — what lands in shards, ledgers and the
    config digest must not depend on the extras installed (a shape-only mask gives other bytes and
    another manifest ID) — unless ``by_shape_without_presidio``: text only shown or kept as a note
    (an error message, a reviewer's comment), masked by :func:`mask_by_shape` instead. ``what``
    names the value in that error (never the value itself)."""
    if not value:
        return value
    if "@" not in value:  # the digit count first: cheaper than the pattern for most ids
        # str.isdecimal is re's \d (Unicode category Nd); counted without findall's list of
        # matches: 1.8 → 0.9 µs an id (100,000 e2e ids, timeit, load ~13, 2026-12-07).
        if len(value) < _MIN_DIGITS or sum(map(str.isdecimal, value)) < _MIN_DIGITS:
            return value  # no e-mail address and too few digits for any identifier
    if not _MAYBE.search(value):
        return value
    # File names and ids separate words by _ or /, which would glue a number to its neighbours.
    probe = re.sub(r"[_/\\]", " ", value)
    if not identifier_shaped(probe):
        return value  # no recognizer's pattern matches (nor in the cuts below): none can find anything, Presidio stays unloaded
    # A file name's extensions lengthen an e-mail address's domain past any TLD
    # (``kim@example.com.jsonl.gz``, ``kim@example.com.export.csv``, a folder
    # ``kim@example.com.backup/``): read it also cut at each dot after the ``@`` of its part — that
    # dot and the part's later ones as spaces (same length, so the offsets hold). One cut at a time,
    # since ``.com`` is such a dot too; the recognizer keeps the cut whose domain ends in a TLD.
    probes = [probe]
    if "@" in probe:
        for part in re.finditer(r"[^ ]*@[^ ]*", probe):
            dots = [part.start() + i for i, c in enumerate(part.group()) if c == "." and i > part.group().index("@")]
            for cut in dots[-_MAX_CUTS:]:
                probes.append(probe[:cut] + probe[cut:part.end()].replace(".", " ") + probe[part.end():])
    try:
        recognizers = _recognizers()
    except ImportError:
        if by_shape_without_presidio:
            return mask_by_shape(value)
        raise ConfigError(
            f"{what} looks like it holds personal data (an e-mail address or a long "
            "number); masking it as every install does needs the pii extra: pip install 'corpusmill[pii]'"
        ) from None
    spans = []
    for text in probes:
        for rec in recognizers:
            for r in rec.analyze(text, rec.supported_entities, None):
                if r.score >= _MIN_SCORE.get(r.entity_type, 0.5):
                    spans.append((r.start, r.end, r.entity_type, r.score))
    if not spans:
        return value
    chosen: list[tuple[int, int, str, float]] = []
    for s in sorted(spans, key=lambda s: (-s[3], -(s[1] - s[0]), s[0])):
        if all(s[1] <= c[0] or s[0] >= c[1] for c in chosen):
            chosen.append(s)
    out = value
    for start, end, entity, _ in sorted(chosen, reverse=True):
        out = out[:start] + f"<{entity}>" + out[end:]
    return out


_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_NUMBER = re.compile(r"\d(?:[\d -]{7,}\d)")


def mask_by_shape(value: str) -> str:
    """``value`` with e-mail addresses and runs of nine or more digits masked by their shape alone:
    what :func:`mask_identifiers` does where Presidio is not installed (a trainer's light install
    printing an error that names a file, a reviewer's comment). Coarser — an e-mail address takes a
    file name's extensions with it — but nothing identifier-shaped is printed or stored raw."""
    return _NUMBER.sub(lambda m: "<NUMBER>" if sum(map(str.isdigit, m.group())) >= _MIN_DIGITS else m.group(), _EMAIL.sub("<EMAIL_ADDRESS>", value))


def shown_name(value) -> str:
    """A file name, path or key as a message prints it: control characters escaped and identifiers
    masked (by shape where Presidio is not installed: a message is only shown)."""
    text = printable(value)
    return mask_identifiers(text, by_shape_without_presidio=True) or text


def field_names(keys) -> str:
    """Keys of a record for an error message, by position and a short hash: a JSON key can itself
    be personal data (``{"010-1234-5678": …}``)."""
    keys = [str(k) for k in keys]
    shown = ", ".join(f"#{i + 1}:{hashlib.sha256(k.encode()).hexdigest()[:8]}" for i, k in enumerate(keys[:12]))
    return f"{len(keys)} field(s), by position and sha256 prefix: {shown}"


def masked_file_names(rels: list[str]) -> list[str]:
    """The names under which a source's input files appear in every output (shards, ledger,
    manifest, logs, errors): :func:`mask_identifiers` of each path, unique within the source.

    Two files whose masked names collide (``01012345678.jsonl`` and ``01098765432.jsonl`` are
    both ``<PHONE_NUMBER>.jsonl``) are told apart by an ordinal in raw-name order
    (``<PHONE_NUMBER>~1.jsonl``, ``<PHONE_NUMBER>~2.jsonl``). Not a hash of the raw name: a phone
    number's hash is undone by trying the ~10^8 numbers in seconds. The file itself stays
    verifiable by the sha256 of its content, which the manifest records beside the name.

    >>> masked_file_names(["01012345678.jsonl", "01098765432.jsonl", "notes.jsonl"])
    ['<PHONE_NUMBER>~1.jsonl', '<PHONE_NUMBER>~2.jsonl', 'notes.jsonl']
    """
    masked = [mask_identifiers(r) or r for r in rels]
    groups: dict[str, list[int]] = {}
    for i, m in enumerate(masked):
        groups.setdefault(m, []).append(i)
    taken = set(masked)
    out = list(masked)
    for name, members in groups.items():
        changed = [i for i in members if masked[i] != rels[i]]
        if len(members) < 2 or not changed:
            continue
        stem_dir, _, base = name.rpartition("/")
        dot = base.find(".", 1)
        stem, ext = (base[:dot], base[dot:]) if dot > 0 else (base, "")
        n = 0
        for i in sorted(changed, key=lambda i: rels[i]):
            while True:
                n += 1
                candidate = (stem_dir + "/" if stem_dir else "") + f"{stem}~{n}{ext}"
                if candidate not in taken:
                    break
            taken.add(candidate)
            out[i] = candidate
    return out
