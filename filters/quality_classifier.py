"""DCLM-style fastText quality classifier: train on reference vs noise text, score, threshold.

Two stages, because scoring and deciding are separate steps:

* ``quality_classifier`` (map) writes ``quality_score`` = P(reference quality) for every
  document and drops those under a threshold (one number, or per source); ``drop: false``
  only scores.
* ``quality_top_fraction`` (global) keeps the best ``fraction`` of each source by a score
  column — it needs every document's score, so it is a global stage, deterministic on any
  worker count (ties broken by ingest order).

Training (``corpusmill quality train``) samples the two classes to equal size with every source
of a class contributing equally, splits train/held-out by a hash of the document id (the same
document is always on the same side), trains fastText single-threaded with a fixed seed (same
data → same model bytes), and writes a model card next to the model with the data used,
hyper-parameters, held-out precision/recall/F1/ROC-AUC per language, fastText's version and the
model's sha256. The stage reports the model (sha256 + card) to the manifest.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpusmill_base.errors import InputError
from corpusmill_base.hashing import sha256_file
from pydantic import Field

from filters.analysis import TEXTS, BatchAnalysis
from filters.base import DECISION_SCHEMA, GlobalStage, MapStage, decision_table, Score, StageContext, StageOptions, StageResult, Threshold

POSITIVE, NEGATIVE = "__label__hq", "__label__lq"
TEXT_PREP_VERSION = 1
REASON_BELOW = "quality_below_threshold"
REASON_NOT_TOP = "quality_below_top_fraction"

_WS = re.compile(r"\s+")
_PUNCT = re.compile(r"([^\w\s])")
_DIGITS = re.compile(r"\d")


_FASTTEXT_MAGIC = 793712314


def fasttext_file_problem(path: str | os.PathLike[str]) -> str | None:
    """Why the file is not one whole fastText model (``None`` when it is).

    fastText's loader reads with unchecked stream reads: a model cut short loads without an error
    and scores every document ~0.5 (a 25.7 MB model cut to its first 100 kB predicted 0.50001 for
    anything). With a card the sha256 catches that; a model brought without one is checked here by
    walking the layout fastText's ``saveModel`` writes (header, arguments, dictionary, then the input
    and output matrices, dense or product-quantized) and asking that it ends exactly at the end of
    the file. Reads the header and dictionary only; the matrices are skipped by their sizes.
    """
    size = os.path.getsize(path)
    if size < 8:
        return "not a fastText file"
    with open(path, "rb") as f:

        def take(n: int) -> bytes:
            b = f.read(n)
            if len(b) != n:
                raise EOFError
            return b

        def skip(n: int) -> None:
            if n < 0 or f.tell() + n > size:
                raise EOFError
            f.seek(n, 1)

        def quantizer() -> None:  # ProductQuantizer::save: dim, nsubq, dsub, lastdsub, then dim x 256 centroids
            dim = struct.unpack("<iiii", take(16))[0]
            skip(4 * dim * 256)

        def matrix() -> None:
            (quantized,) = struct.unpack("<?", take(1))
            if not quantized:  # DenseMatrix::save: m, n (int64), then m x n float32
                m, n = struct.unpack("<qq", take(16))
                skip(4 * m * n)
                return
            qnorm, m, _n, codesize = struct.unpack("<?qqi", take(21))  # QuantMatrix::save
            skip(codesize)
            quantizer()
            if qnorm:
                skip(m)
                quantizer()

        try:
            magic, _version = struct.unpack("<ii", take(8))
            if magic != _FASTTEXT_MAGIC:
                return "not a fastText file"
            take(56)  # Args::save: 12 int32 and a double
            entries, _words, _labels, _tokens, pruned = struct.unpack("<iiiqq", take(28))
            rest = b""  # Dictionary::save: per entry a NUL-ended word, an int64 count and an int8 type
            for _ in range(entries):
                while (end := rest.find(b"\0")) < 0 or len(rest) < end + 10:
                    chunk = f.read(1 << 16)
                    if not chunk:
                        raise EOFError
                    rest += chunk
                rest = rest[end + 10 :]
            f.seek(-len(rest), 1)
            skip(8 * max(pruned, 0))
            matrix()  # input
            matrix()  # output
        except (EOFError, struct.error):
            return "cut short"
        if f.tell() != size:
            return f"{size - f.tell()} bytes after the model's end"
    return None


def classifier_text(text: str, max_chars: int = 3000) -> str:
    """What fastText sees: the head of the document, lower-cased, digits folded to 0,
    punctuation split from words, on one line (text prep version 1).

    >>> classifier_text("제1조(목적) 이 법은…\\nThe Act.")
    '제0조 ( 목적 ) 이 법은 … the act .'
    """
    text = _DIGITS.sub("0", text[:max_chars].lower())
    return _WS.sub(" ", _PUNCT.sub(r" \1 ", text)).strip()


def card_path(model: str | os.PathLike) -> Path:
    """The model card sits next to the model: ``quality.bin`` → ``quality.card.json``."""
    p = Path(model)
    return p.with_name(p.stem + ".card.json")


def heldout_side(doc_id: str, heldout_percent: int) -> bool:
    """Fixed split by document: a hash of the id, not a random draw."""
    return int(hashlib.sha256(doc_id.encode()).hexdigest()[:8], 16) % 100 < heldout_percent


# ----------------------------------------------------------------------------- training


@dataclass(frozen=True)
class TrainParams:
    """fastText hyper-parameters (single thread + fixed seed: reproducible model bytes)."""

    epoch: int = 25
    lr: float = 0.5
    dim: int = 32
    word_ngrams: int = 2
    minn: int = 2
    maxn: int = 4
    min_count: int = 2
    bucket: int = 200_000
    loss: str = "softmax"
    seed: int = 0
    max_chars: int = 3000

    def fasttext_kwargs(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "lr": self.lr,
            "dim": self.dim,
            "wordNgrams": self.word_ngrams,
            "minn": self.minn,
            "maxn": self.maxn,
            "minCount": self.min_count,
            "bucket": self.bucket,
            "loss": self.loss,
            "seed": self.seed,
            "thread": 1,
            "verbose": 0,
        }


@dataclass
class LabelledDoc:
    id: str
    text: str
    source: str
    lang: str | None
    label: int  # 1 reference quality, 0 noise
    doc_id: str = ""  # the document a chunk came from; the held-out split is by document

    def __post_init__(self) -> None:
        self.doc_id = self.doc_id or self.id


def chunk_document(doc: LabelledDoc, chunk_chars: int) -> list[LabelledDoc]:
    """Split a long document into paragraph chunks of about ``chunk_chars`` (for small corpora
    of long documents: 17 statutes give hundreds of training examples)."""
    if chunk_chars <= 0 or len(doc.text) <= chunk_chars:
        return [doc]
    chunks, cur = [], ""
    for para in re.split(r"\n\s*\n", doc.text):
        if cur and len(cur) + len(para) > chunk_chars:
            chunks.append(cur)
            cur = ""
        cur = f"{cur}\n\n{para}" if cur else para
    if cur:
        chunks.append(cur)
    return [
        LabelledDoc(f"{doc.id}#{k}", c, doc.source, doc.lang, doc.label, doc.doc_id) for k, c in enumerate(chunks)
    ]


@dataclass
class TrainResult:
    model_path: Path
    card: dict[str, Any]
    heldout_scores: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    heldout: list[LabelledDoc] = field(repr=False, default_factory=list)


def balanced_sample(docs: list[LabelledDoc], per_class: int | None, seed: int) -> list[LabelledDoc]:
    """Equal numbers of positives and negatives *per language*; inside a class every source gives
    an equal share (a source with fewer documents gives all of them, the rest is shared).

    Balancing per language keeps the classifier from learning "English = good" when one language
    has more reference text, and makes the held-out precision of each language meaningful. A
    language present in one class only (e.g. English speeches against Korean reviews) still
    contributes, up to the largest per-language class size.
    """
    rng = np.random.default_rng(seed)
    by_lang: dict[str, dict[int, dict[str, list[LabelledDoc]]]] = {}
    for d in docs:
        by_lang.setdefault(d.lang or "und", {0: {}, 1: {}})[d.label].setdefault(d.source, []).append(d)
    sizes = {lang: {c: sum(len(v) for v in srcs.values()) for c, srcs in cls.items()} for lang, cls in by_lang.items()}
    if not any(s[0] for s in sizes.values()) or not any(s[1] for s in sizes.values()):
        total = {c: sum(s[c] for s in sizes.values()) for c in (0, 1)}
        raise InputError(f"training needs both classes; got {total[1]} positive and {total[0]} negative documents")
    both = {lang: min(s[0], s[1]) for lang, s in sizes.items() if s[0] and s[1]}
    if per_class is not None:
        both = {lang: min(n, per_class) for lang, n in both.items()}
    cap = max(both.values(), default=per_class or 0)
    out: list[LabelledDoc] = []
    for lang in sorted(by_lang):
        for c in (1, 0):
            srcs = by_lang[lang][c]
            n = both.get(lang, min(sizes[lang][c], cap))
            quota = _share(n, {s: len(v) for s, v in srcs.items()})
            for s in sorted(srcs):
                pool = sorted(srcs[s], key=lambda d: d.id)
                pick = rng.permutation(len(pool))[: quota[s]]
                out += [pool[i] for i in sorted(pick)]
    return out


def _share(n: int, available: dict[str, int]) -> dict[str, int]:
    quota = {s: 0 for s in available}
    left, open_ = n, sorted(available)
    while left > 0 and open_:
        each = max(left // len(open_), 1)
        for s in list(open_):
            take = min(each, available[s] - quota[s], left)
            quota[s] += take
            left -= take
            if quota[s] >= available[s]:
                open_.remove(s)
            if left == 0:
                break
    return quota


def binary_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float | None]:
    """Precision, recall, F1 at ``threshold`` and ROC-AUC (rank formula, ties averaged).

    >>> binary_metrics(np.array([1, 1, 0, 0]), np.array([0.9, 0.4, 0.6, 0.1]), 0.5)["roc_auc"]
    0.75
    """
    labels = np.asarray(labels, dtype=int)
    scores = np.asarray(scores, dtype=float)
    pred = scores >= threshold
    tp = int((pred & (labels == 1)).sum())
    fp = int((pred & (labels == 0)).sum())
    fn = int((~pred & (labels == 1)).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    n_pos, n_neg = int((labels == 1).sum()), int((labels == 0).sum())
    auc = float("nan")
    if n_pos and n_neg:
        order = np.argsort(scores, kind="mergesort")
        ranks = np.empty(len(scores), dtype=float)
        sorted_scores = scores[order]
        # average ranks over ties
        _, start, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
        avg = start + (counts - 1) / 2.0 + 1.0
        ranks[order] = np.repeat(avg, counts)
        auc = (ranks[labels == 1].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)
    return {
        "n": int(len(labels)),
        "positives": n_pos,
        "negatives": n_neg,
        "threshold": threshold,
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "roc_auc": round(float(auc), 4) if auc == auc else None,
    }


def train_classifier(
    docs: list[LabelledDoc],
    out: str | os.PathLike,
    params: TrainParams = TrainParams(),
    per_class: int | None = None,
    heldout_percent: int = 20,
    threshold: float = 0.5,
    sources: dict[str, dict[str, Any]] | None = None,
) -> TrainResult:
    """Train, evaluate on the held-out documents, write the model and its card."""
    import fasttext

    sample = balanced_sample(docs, per_class, params.seed)
    train = [d for d in sample if not heldout_side(d.doc_id, heldout_percent)]
    heldout = [d for d in sample if heldout_side(d.doc_id, heldout_percent)]
    if not train or not {d.label for d in train} == {0, 1}:
        raise InputError("the training split needs documents of both classes; add data or lower --heldout")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as f:
        for d in train:
            f.write(f"{POSITIVE if d.label else NEGATIVE} {classifier_text(d.text, params.max_chars)}\n")
        train_file = f.name
    kwargs = params.fasttext_kwargs()
    try:
        # fastText can diverge ("Encountered NaN") at a high learning rate on some data; halve it
        # and retry (deterministic: the same data always takes the same path). The card records
        # the rate that trained the model.
        # A per-process name: two checkouts set up at once share the model cache (seen: one
        # trainer renamed the other's half-written file away).
        tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
        for attempt in range(4):
            try:
                _train_isolated(train_file, kwargs, str(tmp))
                break
            except RuntimeError as e:
                if "NaN" not in str(e):
                    raise
                if attempt == 3:
                    raise InputError(f"fastText diverged (NaN) at every learning rate down to {kwargs['lr']:g}; lower --lr") from None
                kwargs["lr"] = kwargs["lr"] / 2
    finally:
        os.unlink(train_file)
    os.replace(tmp, out)
    model = fasttext.load_model(str(out))

    scores = positive_probability(model, [d.text for d in heldout], params.max_chars)
    labels = np.array([d.label for d in heldout], dtype=int)
    metrics: dict[str, Any] = {"all": binary_metrics(labels, scores, threshold)} if heldout else {}
    for lang in sorted({d.lang for d in heldout if d.lang}):
        idx = np.array([d.lang == lang for d in heldout])
        metrics[lang] = binary_metrics(labels[idx], scores[idx], threshold)

    def used(label: int) -> list[dict[str, Any]]:
        rows = []
        for s in sorted({d.source for d in sample if d.label == label}):
            rows.append(
                {
                    "source": s,
                    **(sources or {}).get(s, {}),
                    "available": sum(1 for d in docs if d.source == s),
                    "train": sum(1 for d in train if d.source == s),
                    "heldout": sum(1 for d in heldout if d.source == s),
                }
            )
        return rows

    card = {
        "kind": "corpusmill quality classifier (fastText supervised, DCLM-style)",
        "model_file": out.name,
        "sha256": sha256_file(out),
        "labels": {"positive": POSITIVE, "negative": NEGATIVE},
        "score": "quality_score = P(__label__hq)",
        "default_threshold": threshold,
        "text_prep_version": TEXT_PREP_VERSION,
        "data": {
            "positive": used(1),
            "negative": used(0),
            "balanced_per_class": sum(1 for d in sample if d.label == 1),
            "balanced": "per language: equal positives and negatives; equal share per source inside a class",
            "heldout_split": f"sha256(document id) % 100 < {heldout_percent}",
        },
        "hyper_parameters": {**kwargs, "max_chars": params.max_chars},
        "heldout_metrics": metrics,
        "fasttext_version": _fasttext_version(),
    }
    card_path(out).write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return TrainResult(model_path=out, card=card, heldout_scores=scores, heldout=heldout)


def _fit_and_save(train_file: str, kwargs: dict[str, Any], out: str) -> None:
    import fasttext

    fasttext.train_supervised(input=train_file, **kwargs).save_model(out)


def _train_isolated(train_file: str, kwargs: dict[str, Any], out: str) -> None:
    """Train in a fresh process: libraries loaded earlier in this one (seen with Kiwi in the same
    pytest process) can change floating-point state, and then the same data gives other bytes."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        pool.submit(_fit_and_save, train_file, kwargs, out).result()


def _fasttext_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    for dist in ("fasttext-numpy2-wheel", "fasttext-wheel", "fasttext"):
        try:
            return f"{dist} {version(dist)}"
        except PackageNotFoundError:
            continue
    return "unknown"


def positive_probability(model, texts: list[str], max_chars: int = 3000) -> np.ndarray:
    if not texts:
        return np.zeros(0, dtype=np.float64)
    labels, probs = model.predict([classifier_text(t, max_chars) for t in texts], k=2)
    out = np.zeros(len(texts), dtype=np.float64)
    for i, (ls, ps) in enumerate(zip(labels, probs)):
        for lab, p in zip(ls, ps):
            if lab == POSITIVE:
                out[i] = min(float(p), 1.0)
    return out


# ----------------------------------------------------------------------------- stages


def resolve_model(model: str, model_dir: str | None) -> Path:
    """An absolute path, a path relative to the working directory, or a file in the model directory."""
    p = Path(model).expanduser()
    if p.is_absolute() or p.exists():
        return p
    from corpusmill_base.models import model_dir as default_dir

    return default_dir(model_dir) / model


class QualityClassifierOptions(StageOptions):
    model: str = Field(min_length=1, description="path, or file name in the model directory (`corpusmill quality train` or `make models`)")
    threshold: float | dict[str, float] | None = Field(
        default=None, description="a number, or {source_id: t, default: t}; default: the model card's default_threshold"
    )
    drop: bool = Field(default=True, description="false only scores")


class QualityClassifier(MapStage):
    """Scores ``quality_score`` with a trained fastText model and applies a threshold.

    Options (:class:`QualityClassifierOptions`): ``model`` (required: path, or file name in the
    model directory), ``threshold`` (a number, or ``{source_id: t, default: t}``; default: the
    model card's ``default_threshold``), ``drop`` (default true; false only scores).
    """

    name = "quality_classifier"
    version = 1
    output_fields = [pa.field("quality_score", pa.float32())]
    Options = QualityClassifierOptions
    opts: QualityClassifierOptions
    scores = (Score("quality_score", (Threshold("threshold", "below", REASON_BELOW),)),)

    def __init__(self, options: Mapping[str, Any] | StageOptions | None = None, context: StageContext | None = None):
        super().__init__(options, context)
        self.drop = self.opts.drop
        self._model: Any = None
        self._card: dict[str, Any] | None = None

    @property
    def model_path(self) -> Path:
        return resolve_model(self.opts.model, self.context.model_dir)

    def card(self) -> dict[str, Any]:
        if self._card is None:
            path = self.model_path
            if not path.exists():
                from corpusmill_base.errors import IntegrityError

                raise IntegrityError(f"quality model {path} is missing; run `make models` or `corpusmill quality train`")
            cp = card_path(path)
            self._card = json.loads(cp.read_text(encoding="utf-8")) if cp.exists() else {}
            if not cp.exists() and (problem := fasttext_file_problem(path)):
                from corpusmill_base.errors import IntegrityError

                raise IntegrityError(
                    f"quality model {path} is not a fastText model ({problem}; it has no card to check it by); "
                    "train one with `corpusmill quality train`"
                )
            got = sha256_file(path)
            if self._card.get("sha256") not in (None, got):
                from corpusmill_base.errors import IntegrityError

                raise IntegrityError(f"quality model {path} has sha256 {got}, its card says {self._card['sha256']}")
            self._card.setdefault("sha256", got)
        return self._card

    def setup(self) -> None:
        import fasttext

        fasttext.FastText.eprint = lambda *a, **k: None
        card = self.card()
        try:
            self._model = fasttext.load_model(str(self.model_path))
        except ValueError as e:  # fastText: "<path> has wrong file format!" (not a model, or another version's)
            from corpusmill_base.errors import IntegrityError

            raise IntegrityError(f"quality model {self.model_path} is not a fastText model ({e}); train one with `corpusmill quality train`") from None
        self._max_chars = int(card.get("hyper_parameters", {}).get("max_chars", 3000))

    def threshold_for(self, source_id: str) -> float:
        t = self.opts.threshold
        if t is None:
            return float(self.card().get("default_threshold", 0.5))
        if isinstance(t, dict):
            return float(t.get(source_id, t.get("default", self.card().get("default_threshold", 0.5))))
        return float(t)

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        if self.opts.threshold is None:  # effective: the model card's default_threshold
            d["options"]["threshold"] = self.threshold_for("")
        return d

    def artifacts(self) -> list[dict[str, Any]]:
        card = self.card()
        path = self.model_path
        cp = card_path(path)
        return [
            {
                "name": path.name,
                "sha256": card["sha256"],
                "origin": "trained by corpusmill quality train",
                "card": {
                    "path": cp.name,
                    "sha256": sha256_file(cp) if cp.exists() else None,
                    "data": {k: [s["source"] for s in card.get("data", {}).get(k, [])] for k in ("positive", "negative")},
                    "heldout_metrics": card.get("heldout_metrics"),
                    "fasttext_version": card.get("fasttext_version"),
                },
            }
        ]

    def process(self, batch: pa.RecordBatch) -> StageResult:
        return self.process_shared(batch, BatchAnalysis())

    def process_shared(self, batch: pa.RecordBatch, shared: BatchAnalysis) -> StageResult:
        texts = shared.get(TEXTS, batch)
        scores = positive_probability(self._model, texts, self._max_chars)
        columns = {"quality_score": pa.array(scores.astype(np.float32))}
        if not self.drop:
            return StageResult.keep_all(len(texts), columns)
        sources = batch.column("source_id").to_pylist()
        thresholds = np.array([self.threshold_for(s) for s in sources])
        keep = scores >= thresholds
        reasons = [None if k else REASON_BELOW for k in keep]
        return StageResult(
            keep=keep,
            reasons=reasons,
            columns=columns,
            scores=np.where(keep, np.nan, scores.astype(np.float64)),
            thresholds=np.where(keep, np.nan, thresholds.astype(np.float64)),
        )


class TopFractionOptions(StageOptions):
    fraction: float | dict[str, float] = Field(description="0–1: a number, or {source_id: f, default: f}")
    column: str = Field(default="quality_score", description="the score column ranked")


class QualityTopFraction(GlobalStage):
    """Keep the top ``fraction`` of each source by a score column (default ``quality_score``).

    Options (:class:`TopFractionOptions`): ``fraction`` (0–1, required; a number or
    ``{source_id: f, default: f}``), ``column`` (default ``quality_score``). Ties are broken by
    ingest order, so the result does not depend on batches or workers. A drop's ledger ``score``
    is its score and ``threshold`` the lowest score kept in its source.
    """

    name = "quality_top_fraction"
    version = 1
    Options = TopFractionOptions
    opts: TopFractionOptions
    # The column is an option (default quality_score); the cutoff is computed, not an option.
    scores = (Score("quality_score", reasons=(REASON_NOT_TOP,)),)

    def __init__(self, options: Mapping[str, Any] | StageOptions | None = None, context: StageContext | None = None):
        super().__init__(options, context)
        self.column = self.opts.column

    def fraction_for(self, source_id: str) -> float:
        f = self.opts.fraction
        if isinstance(f, dict):
            return float(f.get(source_id, f.get("default", 1.0)))
        return float(f)

    def keys(self, batch: pa.RecordBatch) -> pa.Table:
        if self.column not in batch.schema.names:
            raise ValueError(f"quality_top_fraction: column {self.column!r} is missing; put a scoring stage before it")
        return pa.table(
            {
                "id": batch.column("id"),
                "order": batch.column("order"),
                "source_id": batch.column("source_id"),
                "score": pc.cast(batch.column(self.column), pa.float64()),
            }
        )

    def decide(self, keys: Iterable[pa.Table], grouped: Iterable[pa.Table] | None = None) -> pa.Table:
        parts = [k for k in keys if k.num_rows]
        if not parts:
            return DECISION_SCHEMA.empty_table()
        table = pa.concat_tables(parts)
        drops_id: list[str] = []
        drops_detail: list[str] = []
        drops_score: list[float] = []
        drops_cutoff: list[float] = []
        for source in sorted(set(table.column("source_id").to_pylist())):
            sub = table.filter(pc.equal(table.column("source_id"), source))
            n = sub.num_rows
            keep_n = int(np.ceil(self.fraction_for(source) * n))
            score = np.nan_to_num(sub.column("score").to_numpy(zero_copy_only=False), nan=-np.inf)
            order = sub.column("order").to_numpy()
            rank = np.lexsort((order, -score))  # best score first, then ingest order
            gone = rank[keep_n:]
            ids = sub.column("id").to_pylist()
            cutoff = score[rank[keep_n - 1]] if keep_n else float("inf")
            for i in sorted(gone, key=lambda j: order[j]):
                drops_id.append(ids[i])
                drops_detail.append(f"keep={keep_n}/{n}")
                drops_score.append(float(score[i]))
                drops_cutoff.append(float(cutoff))
        n = len(drops_id)
        return decision_table(
            {
                "id": pa.array(drops_id, pa.string()),
                "reason": pa.array([REASON_NOT_TOP] * n, pa.string()),
                "detail": pa.array(drops_detail, pa.string()),
                "score": pa.array(drops_score, pa.float64()),
                "threshold": pa.array(drops_cutoff, pa.float64()),
            }
        )
