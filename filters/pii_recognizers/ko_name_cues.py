"""What a Korean name looks like and the words around it: surnames, given-name syllables,
role words before a name (원고 홍길동), titles after it (홍길동 변호사), honorifics, particles,
and the common words the surname test lets through. Plain strings and regexes: no tokenizer.
"""

from __future__ import annotations

import re

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


#: One title of :data:`NAME_AFTER`, behind a test of the letters titles start with: where the next
#: letter starts none, the test fails at once instead of ~80 alternatives each failing (at every
#: word a title could follow, up to four times). The same matches; the Kiwi gate's scan 0.51–0.60
#: → 0.30–0.40 CPU-s on 30,000 of the e2e corpus's Korean documents (2026-12-07).
_TITLE = rf"(?=[{''.join(sorted({t[0] for t in NAME_AFTER.split('|')}))}])(?:{NAME_AFTER})"


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


_NAME_BEFORE_TITLE = re.compile(rf"(?<![가-힣0-9A-Za-z])(?P<name>{_HANGUL_NAME})\s?(?:{_TITLE}){{1,2}}(?![가-힣]{{2}})")


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


_ALL_HANGUL = re.compile(r"[가-힣]+")


_HANGUL_CHAR = re.compile(r"[가-힣]")


_NAME_TITLE_AFTER = re.compile(rf"\s?(?:{_TITLE}){{1,2}}(?![가-힣]{{2}})")


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
    titled = rf"[가-힣]{{2,5}}(?=\s?(?:{_TITLE}){{1,2}}(?![가-힣]{{2}}))"
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


def is_korean_name(word: str, before_genitive: bool = False) -> bool:
    """A full Korean name: surname + 1–2 syllables (or a double surname + 1–2), not a common word.

    ``before_genitive``: the word stands before a genitive 의, so a last syllable 은/는/이/가 is
    no particle (they never stand before 의: 담당자 주소은의 연락처 names 주소은, not 주소)."""
    if not 2 <= len(word) <= 4 or not _ALL_HANGUL.fullmatch(word) or word in NOT_NAMES:
        return False
    if not _GIVEN_SYLLABLES.fullmatch(word[2:] if word[:2] in SURNAMES_2 and len(word) >= 3 else word[1:]):
        return False  # 하였, 이렇: a verb form, not a given name
    if word[-1] in ("을를의와과도" if before_genitive else "은는이가을를의와과도") and word[:-1] in NOT_NAMES:
        return False
    if len(word) == 2 and word[1] in "모씨군양":
        return False  # 김모 (某), 박씨: a bare surname is already anonymous
    if len(word) >= 3 and word[:2] in SURNAMES_2:
        return True
    return word[0] in SURNAMES_1 and len(word) in (2, 3)


_STEM = re.compile(rf"[가-힣]{{3}}(?={_JOSA}(?![가-힣]))")


_STEM2 = re.compile(rf"[가-힣]{{2}}(?={_JOSA}(?![가-힣]))")


#: A copula right after the name: 대표자는 이빈영이다 (the role word a subject, the name its predicate).
_COPULA = re.compile(r"(?:이다|이며|이고|이었다|였다|입니다|이었고|이었으며)(?![가-힣])")


#: Titles an office, a field or an organisation takes as well as a person: 감정원 원장, 감사 위원,
#: 국방 장관, 내과 의사, 협회 회장; and 님 (부처님, 형사님, 부모님, as in :func:`honorific_names`).
_ORG_TITLE = re.compile(
    r"\s?(?:원장|위원장|위원|회장|부회장|사장|부사장|이사|대표|장관|차관|시장|군수|구청장|도지사|지사|총장|부장|차장|과장|실장|"
    r"팀장|본부장|의사|간호사|약사|전무|상무|선생님|님)"
)


#: Honorifics and kin terms written right after a (given) name: 혜교씨, 유진님, 효주누나, 지빈오빠.
HONORIFICS = ("씨", "님", "오빠", "언니", "누나", "형님", "선생님", "옹")


def _bare_surname(word: str) -> bool:
    """김모 (某) or 박씨: a surname alone is already anonymous."""
    return len(word) == 2 and word[0] in SURNAMES_1 and word[1] in "모씨군양"
