"""Language identification with fastText ``lid.176.ftz``, made robust for Korean/English text.

Scores, then decides:

* ``lang`` — the detected language (ISO 639-1 as fastText names it; ``und`` when the text has
  no letters), replacing the source's hint;
* ``lang_score`` — confidence in ``lang``: fastText's probability, or for Korean the larger of
  that and the Hangul share of the letters (see below);
* ``hangul_ratio`` — Hangul letters / all letters of the scored sample.

fastText sees a *cleaned sample*, not the raw document: the beginning and the middle of long
documents (so a YAML header or a title block cannot decide alone), with URLs, e-mail addresses,
markup, WikiText's ``<unk>``/``@-@`` tokens, digits and punctuation removed — digits and
symbols carry no language and make statutes and tables look like anything. Hangul is a second,
exact signal: fastText confuses short Korean (``ㅋㅋㅋ``, ``굿``) and Hanja-heavy old statutes
with Japanese/Chinese, while a text whose letters are mostly Hangul is Korean. So a sample whose
Hangul share reaches ``hangul_ko_ratio`` is ``ko``. A sample whose letters are *all* Hangul is
``ko`` with ``lang_score`` 1.0 without asking fastText (``langid@2``), unless its source expects
languages without Korean (then fastText's guesses decide whether it is a mixed document).

Keep rule: a source with expected languages (``expected_langs`` or ``lang`` in the config, or
this stage's ``expected`` option) keeps a document when its language is expected, or when it is
a *mixed* document in an expected language: fastText gives an expected language at least
``mixed_min_prob`` among its top guesses, or Korean is expected and at least ``mixed_hangul_min``
of the letters are Hangul (Korean text quoting English terms, bilingual finance sentences).
Drops carry the detected language in the ledger's ``label`` column (the stage's declared
``label``; the detail says it too, ``detected=ja``) and its ``lang_score`` in ``score``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import numpy as np
import pyarrow as pa
from pydantic import Field

from filters.analysis import TEXTS, BatchAnalysis
from filters.base import MapStage, Score, StageContext, StageOptions, StageResult, Threshold
from filters.textstats import code_points, matching, texts_matching

_NOISE = re.compile(
    r"https?://\S+|www\.\S+|\S+@\S+\.\w+|<[^>]{0,200}>|&\w{2,6};|@[-.,]@|[\d_]+|[^\w\s]+",
)
_SPACE = re.compile(r"\s+")
_HANGUL = re.compile("[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")
_LETTER = re.compile(r"[^\W\d_]")

REASON_UNEXPECTED = "lang_unexpected"
REASON_LOW_CONFIDENCE = "lang_low_confidence"
REASON_UNDETERMINED = "lang_undetermined"


def language_sample(text: str, sample_chars: int = 1200) -> str:
    """The cleaned text fastText scores: head and middle of the document, letters only.

    >>> language_sample("제1조(목적) 이 법은 https://law.go.kr 에 따라 2024. 1. 1. 시행한다.")
    '제 조 목적 이 법은 에 따라 시행한다'
    """
    if len(text) > sample_chars:
        text = _head_and_middle(text, sample_chars)
    sample = _SPACE.sub(" ", _NOISE.sub(" ", text)).strip()
    # fastText reads all-capitals English (SMS, headlines) as anything; capitals carry no language.
    return sample.lower() if sample.isupper() else sample


def hangul_ratio(sample: str) -> float:
    """Share of the letters that are Hangul (syllables or jamo).

    >>> hangul_ratio("ㅋㅋ good")
    0.3333333333333333
    """
    letters = len(_LETTER.findall(sample))
    return len(_HANGUL.findall(sample)) / letters if letters else 0.0


# A sample is the document's letters with every other run of characters made one space: what
# _NOISE removes and what it leaves as whitespace collapse alike. Only its URL, e-mail, tag,
# entity and WikiText alternatives need the regex, and each needs a literal to match at all.
_NEEDS_REGEX = ("@", "<", "&", "http", "www.")


def _is_letter(cps: np.ndarray) -> np.ndarray:
    """Whether each code point is a ``_LETTER`` (``[^\\W\\d_]``)."""
    return matching(_LETTER.pattern, cps)


def _code_points(texts: list[str], sep: str = "") -> np.ndarray:
    return code_points(texts, sep)


def language_samples(texts: list[str], sample_chars: int = 1200) -> list[str]:
    """:func:`language_sample` of every text, the texts that need no regex cleaned at once.

    Per text, the two regex passes cost ~7 µs even for a 40-character review (the e-mail
    alternative rescans every word); most texts have none of the literals the URL, e-mail, tag
    and entity alternatives need, and for them the sample is computed over the whole batch with
    a letter table: letters kept, every run of other characters one space, ends stripped.

    >>> language_samples(["제1조(목적) 이 법은 2024. 1. 1. 시행한다.", "mail a@b.com", "", "ÉTÉ 2024"])
    ['제 조 목적 이 법은 시행한다', 'mail', '', 'été']
    """
    return samples_and_ratios(texts, sample_chars)[0]


def samples_and_ratios(texts: list[str], sample_chars: int = 1200) -> tuple[list[str], np.ndarray]:
    """:func:`language_samples` and their :func:`hangul_ratios`. The ratios of the samples made
    by the letter table come from its arrays (a sample is the head's letters and spaces, so its
    Hangul and letter counts are the head's Hangul letters and letters), the others' — lowered
    or cleaned by the regex path — from :func:`hangul_ratios`; and ``str.isupper`` is asked only of
    the samples holding a code point it can hold for (an upper-case letter, or one above U+FFFF).
    Together ~10 % of the stage's Python (re-encoding every sample, an ``isupper`` per sample)."""
    n = len(texts)
    heads = [t if len(t) <= sample_chars else _head_and_middle(t, sample_chars) for t in texts]
    slow = texts_matching(_NEEDS, heads)
    if len(slow) < n:
        samples, maybe_upper, hangul, letters = _letters_only(heads)
    else:
        samples, maybe_upper, hangul, letters = [""] * n, np.zeros(n, bool), np.zeros(n, np.int64), np.zeros(n, np.int64)
    ratios = np.divide(hangul, letters, out=np.zeros(n), where=letters > 0)
    redo: list[int] = []
    for i in np.flatnonzero(maybe_upper).tolist():
        if samples[i].isupper():
            samples[i] = samples[i].lower()
            redo.append(i)
    for i in slow:
        samples[i] = language_sample(texts[i], sample_chars)
    redo.extend(slow)
    if redo:
        ratios[redo] = hangul_ratios([samples[i] for i in redo])
    return samples, ratios


#: One pattern for the literals, searched over the batch (five ``in`` tests per text cost as much
#: as the batch's letter table: 0.3 of langid@2's 1.7 CPU-s on bench/e2e.py's 20 MB corpus).
_NEEDS = re.compile("|".join(map(re.escape, _NEEDS_REGEX)))


def _head_and_middle(text: str, sample_chars: int) -> str:
    half = sample_chars // 2
    mid = len(text) // 2
    return text[:half] + " " + text[mid : mid + half]


def _letters_only(texts: list[str]) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Each text's letters, every run of other characters one space, no space at either end;
    and per text whether it holds a letter ``str.isupper`` may hold for (see :func:`_upper`),
    its Hangul letters and its letters (the counts :func:`hangul_ratios` makes of the sample)."""
    cps = _code_points(texts, "\n")
    letter = _is_letter(cps)
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    sep = np.zeros(len(cps), dtype=bool)
    sep[(np.cumsum(lengths + 1) - 1)[:-1]] = True  # the "\n" between two texts
    gap = ~letter & ~sep
    # A run of gap characters becomes one space unless it starts or ends a text.
    before = np.concatenate([[True], ~gap[:-1]])  # position starts a run
    after = np.concatenate([~gap[1:], [True]])  # position ends a run
    starts, ends = np.flatnonzero(gap & before), np.flatnonzero(gap & after)
    inner = (starts > 0) & (ends < len(cps) - 1)
    inner[inner] = letter[starts[inner] - 1] & letter[ends[inner] + 1]
    keep = letter | sep
    keep[starts[inner]] = True
    out = cps[keep].copy()
    out[~letter[keep] & ~sep[keep]] = 0x20
    # Per text (each text's code points, its separator after it): running counts at the ends.
    last = np.cumsum(lengths + 1) - 1  # each text's separator (one past the end for the last)

    def per_text(flags: np.ndarray) -> np.ndarray:
        total = np.concatenate([[0], np.cumsum(flags, dtype=np.int64)])
        return total[last] - total[last - lengths]

    hangul = per_text(letter & _is_hangul(cps))
    upper = per_text(letter & _upper(cps)) > 0
    return out.tobytes().decode("utf-32-le", "surrogatepass").split("\n"), upper, hangul, per_text(letter)


def _is_hangul(cps: np.ndarray) -> np.ndarray:
    """:data:`_HANGUL`'s ranges, as :func:`hangul_ratios` counts them."""
    return ((cps >= 0xAC00) & (cps <= 0xD7A3)) | ((cps >= 0x1100) & (cps <= 0x11FF)) | ((cps >= 0x3130) & (cps <= 0x318F))


@lru_cache(maxsize=1)
def _upper_table() -> np.ndarray:
    return np.array([chr(c).isupper() for c in range(0x10000)], dtype=bool)


def _upper(cps: np.ndarray) -> np.ndarray:
    """Code points ``chr(c).isupper()`` holds for, and every one above U+FFFF (not looked up):
    ``s.isupper()`` needs one of them in ``s``."""
    return _upper_table()[np.minimum(cps, 0xFFFF)] | (cps > 0xFFFF)


def hangul_ratios(samples: list[str]) -> np.ndarray:
    """:func:`hangul_ratio` of every sample, counted over the batch at once.

    >>> hangul_ratios(["ㅋㅋ good", "", "123"]).tolist()
    [0.3333333333333333, 0.0, 0.0]
    """
    lengths = np.fromiter(map(len, samples), dtype=np.int64, count=len(samples))
    ends = np.cumsum(lengths)
    cps = _code_points(samples)

    def per_sample(flags: np.ndarray) -> np.ndarray:
        total = np.concatenate([[0], np.cumsum(flags, dtype=np.int64)])
        return total[ends] - total[ends - lengths]

    hangul = per_sample(_is_hangul(cps))
    letters = per_sample(_is_letter(cps))
    return np.divide(hangul, letters, out=np.zeros(len(samples)), where=letters > 0)


class LangIdOptions(StageOptions):
    """See :class:`LanguageID` for what each option does."""

    expected: dict[str, list[str]] = Field(default_factory=dict)
    sample_chars: int = Field(default=1200, gt=0)
    hangul_ko_ratio: float = Field(default=0.3, ge=0, le=1)
    mixed_min_prob: float = Field(default=0.15, ge=0, le=1)
    mixed_hangul_min: float = Field(default=0.15, ge=0, le=1)
    min_score: float = Field(default=0.0, ge=0, le=1)
    drop_undetermined: bool = True
    top_k: int = Field(default=3, ge=1)
    prior_below: float = Field(default=0.8, ge=0, le=1)


class LanguageID(MapStage):
    """fastText language ID with a Hangul second signal and per-source expected languages.

    Options (all optional; :class:`LangIdOptions`):

    ``expected``          ``{source_id: [langs]}`` overriding the sources' ``expected_langs``/``lang``
    ``sample_chars``      characters of the document scored (head + middle), default 1200
    ``hangul_ko_ratio``   Hangul share of the letters from which a text is Korean, default 0.3
    ``mixed_min_prob``    fastText probability an expected language needs among the top guesses
                          for a mixed document to be kept, default 0.15
    ``mixed_hangul_min``  Hangul share that keeps a document where Korean is expected, default 0.15
    ``min_score``         drop documents whose ``lang_score`` is below this (``lang_low_confidence``);
                          default 0 (off)
    ``drop_undetermined`` drop documents with no letters at all (``lang_undetermined``), default true
    ``top_k``             fastText guesses considered, default 3
    ``prior_below``       the source's expected languages act as a prior: when fastText's top guess
                          is unexpected and less sure than this, and an expected language has at
                          least ``mixed_min_prob``, the document gets the expected language
                          (short, informal text: SMS, forum lines); default 0.8, 0 turns it off
    """

    name = "langid"
    # 2: a sample whose letters are all Hangul is ko with lang_score 1.0 without fastText (was
    # max(fastText's p_ko, 1.0), up to 1.00007); lang, hangul_ratio and every decision unchanged.
    version = 2
    output_fields = [
        pa.field("lang", pa.string()),
        pa.field("lang_score", pa.float32()),
        pa.field("hangul_ratio", pa.float32()),
    ]
    Options = LangIdOptions
    opts: LangIdOptions
    label = "lang"  # the ledger keeps the detected language of the documents this stage drops
    # lang_unexpected drops carry the detected language's score too (no threshold decided them).
    scores = (Score("lang_score", (Threshold("min_score", "below", REASON_LOW_CONFIDENCE),), reasons=(REASON_UNEXPECTED,)),)
    MODEL = "lid.176.ftz"

    def __init__(self, options: Mapping[str, Any] | StageOptions | None = None, context: StageContext | None = None):
        super().__init__(options, context)
        o = self.opts
        self.expected: dict[str, list[str]] = {k: list(v) for k, v in o.expected.items()}
        self.sample_chars = o.sample_chars
        self.hangul_ko_ratio = o.hangul_ko_ratio
        self.mixed_min_prob = o.mixed_min_prob
        self.mixed_hangul_min = o.mixed_hangul_min
        self.min_score = o.min_score
        self.drop_undetermined = o.drop_undetermined
        self.top_k = o.top_k
        self.prior_below = o.prior_below
        self._model: Any = None

    def setup(self) -> None:
        import fasttext

        from corpusmill_base.models import model_path

        fasttext.FastText.eprint = lambda *a, **k: None  # silence the load-time deprecation notice
        self._model = fasttext.load_model(str(model_path(self.MODEL, self.context.model_dir)))

    def artifacts(self) -> list[dict[str, Any]]:
        from corpusmill_base.models import ARTIFACTS, model_path

        model_path(self.MODEL, self.context.model_dir)  # present and as pinned (sha256, ~2 ms), or IntegrityError
        return [ARTIFACTS[self.MODEL].to_json()]

    def expected_for(self, source_id: str) -> list[str]:
        if source_id in self.expected:
            return self.expected[source_id]
        return list(self.context.source_langs.get(source_id) or [])

    def identify(
        self, texts: list[str], expected: list[list[str]] | None = None, guesses_needed: list[bool] | None = None
    ) -> tuple[list[str], np.ndarray, np.ndarray, list[dict[str, float]]]:
        """(lang, lang_score, hangul_ratio, fastText top-k probabilities) for each text.

        ``expected`` (per text) is the prior described under ``prior_below``; without it the
        detection uses the text alone. A text whose sample's letters are all Hangul is ``ko``
        with score 1.0 and no guesses — fastText is not asked — unless ``guesses_needed`` says
        its guesses are needed (:meth:`process` asks for them where the source expects
        languages without Korean: only they tell a mixed document).
        """
        self.ensure_setup()
        samples, ratios = samples_and_ratios(texts, self.sample_chars)
        # All letters Hangul: Korean whatever fastText says (the ratio reaches any hangul_ko_ratio).
        # 90 % of bench/e2e.py's documents (NSMC reviews, comments); fastText's probability for
        # them was max(p_ko, 1.0) = 1.0 to 1.00007 (fastText adds 1e-5 before its log).
        settled = ratios == 1.0
        if guesses_needed is not None:
            settled &= ~np.asarray(guesses_needed, dtype=bool)
        # numpy for the masks and Python lists for the loops below: indexing a numpy array per
        # document cost ~4 % of the stage (bench/e2e.py's corpus, 2026-12-07).
        has_letters = np.fromiter(map(len, samples), dtype=np.int64, count=len(samples)) > 0
        scored = np.flatnonzero(has_letters & ~settled).tolist()
        settled_list, ratio_list = settled.tolist(), ratios.tolist()
        guesses: list[dict[str, float]] = [{} for _ in texts]
        if scored:
            labels, probs = self._model.predict([samples[i] for i in scored], k=self.top_k)
            for i, ls, ps in zip(scored, labels, probs):
                guesses[i] = {lab[9:]: float(p) for lab, p in zip(ls, ps)}  # strip "__label__"
        # Settled texts are ko with 1.0, texts without guesses und with 0.0; only the scored ones
        # (~10 % of bench/e2e.py's documents) take the loop: a Python step and a numpy store per
        # document were ~8 % of the stage (cProfile, 20 MB corpus, 2026-12-07).
        langs = ["ko" if s else "und" for s in settled_list]
        score_list = [1.0 if s else 0.0 for s in settled_list]
        for i in scored:
            g = guesses[i]
            if not g:
                continue  # und
            if ratio_list[i] >= self.hangul_ko_ratio:
                langs[i] = "ko"
                score_list[i] = max(g.get("ko", 0.0), ratio_list[i])
            else:
                top = max(g, key=lambda lang: g[lang])
                exp = expected[i] if expected else ()
                if exp and top not in exp and g[top] < self.prior_below:
                    best = max(exp, key=lambda lang: g.get(lang, 0.0))
                    if g.get(best, 0.0) >= self.mixed_min_prob:
                        top = best
                langs[i] = top
                score_list[i] = g[top]
        return langs, np.array(score_list, dtype=np.float64), ratios, guesses

    def process(self, batch: pa.RecordBatch) -> StageResult:
        return self.process_shared(batch, BatchAnalysis())

    def process_shared(self, batch: pa.RecordBatch, shared: BatchAnalysis) -> StageResult:
        texts = shared.get(TEXTS, batch)
        sources = batch.column("source_id").to_pylist()
        per_source = {s: self.expected_for(s) for s in set(sources)}
        expected = [per_source[s] for s in sources]
        needed = [bool(exp) and "ko" not in exp for exp in expected]  # _mixed reads the guesses
        langs, scores, ratios, guesses = self.identify(texts, expected if self.prior_below > 0 else None, needed)
        n = len(texts)
        reasons: list[str | None] = [None] * n
        details: list[str | None] = [None] * n
        drop_scores = np.full(n, np.nan)
        thresholds = np.full(n, np.nan)
        score_list, ratio_list = scores.tolist(), ratios.tolist()
        for i, (lang, exp, score) in enumerate(zip(langs, expected, score_list)):
            if lang == "und":
                if self.drop_undetermined:
                    reasons[i], details[i] = REASON_UNDETERMINED, "no letters"
                continue
            if exp and lang not in exp and not self._mixed(exp, guesses[i], ratio_list[i]):
                reasons[i], details[i] = REASON_UNEXPECTED, f"detected={lang} expected={'/'.join(exp)}"
                drop_scores[i] = score
            elif score < self.min_score:
                reasons[i], details[i] = REASON_LOW_CONFIDENCE, f"detected={lang}"
                drop_scores[i], thresholds[i] = score, self.min_score
        keep = np.array([r is None for r in reasons], dtype=bool)
        columns = {
            "lang": pa.array(langs, pa.string()),
            "lang_score": pa.array(scores.astype(np.float32)),
            "hangul_ratio": pa.array(ratios.astype(np.float32)),
        }
        return StageResult(
            keep=keep, reasons=reasons, columns=columns, details=details, scores=drop_scores, thresholds=thresholds
        )

    def _mixed(self, expected: list[str], guesses: dict[str, float], ratio: float) -> bool:
        if "ko" in expected and ratio >= self.mixed_hangul_min:
            return True
        return any(guesses.get(lang, 0.0) >= self.mixed_min_prob for lang in expected)
