"""Korean structured identifiers: presidio's own ``KR_*`` recognizers (disabled by default
upstream) with their patterns widened to dotted / spaced / unseparated forms, and ours for phones,
cards (Luhn), bank accounts, e-mail and road-name / lot-number addresses.
"""

from __future__ import annotations

import re

from presidio_analyzer import Pattern, PatternRecognizer
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    KrBrnRecognizer,
    KrDriverLicenseRecognizer,
    KrFrnRecognizer,
    KrPassportRecognizer,
    KrRrnRecognizer,
)

from .common import _SEP_PAIRS, SEP, OfflineEmailRecognizer

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
