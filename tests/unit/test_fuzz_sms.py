"""Property tests (hypothesis) of SMS segmentation: GSM-7 and UCS-2 segment counts, and numbered splits."""

from __future__ import annotations

import math
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels.sms.text import GSM7_BASIC, GSM7_EXTENDED, is_gsm7, segment_count, split_reply

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(FUZZ, max_examples=50)  # a split tries many cuts: each example costs more
BASIC = "".join(sorted(GSM7_BASIC))
EXTENDED = "".join(sorted(GSM7_EXTENDED))
gsm_text = st.text(alphabet=st.sampled_from(BASIC + EXTENDED), max_size=400)
basic_text = st.text(alphabet=st.sampled_from(BASIC), max_size=400)
# Characters outside GSM-7: accents GSM lacks, CJK, and emoji (surrogate pairs in UTF-16).
other = st.sampled_from("áíóúâêîôûçãõ中文字ひらがなЖЯ") | st.characters(min_codepoint=0x1F300, max_codepoint=0x1FAFF)
ucs2_text = st.lists(st.sampled_from(BASIC) | other, max_size=250).map("".join).filter(lambda t: not is_gsm7(t))
any_text = gsm_text | ucs2_text


def reference_segments(text: str) -> list[str]:
    """The segments by the rules: GSM-7 160 septets alone, 153 concatenated, an extension character costing 2;
    otherwise UTF-16, 70 alone, 67 concatenated; a character (escape or surrogate pair) never split."""
    gsm = all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in text)

    def cost(ch: str) -> int:
        if gsm:
            return 2 if ch in GSM7_EXTENDED else 1
        return len(ch.encode("utf-16-le")) // 2

    single, multi = (160, 153) if gsm else (70, 67)
    if sum(map(cost, text)) <= single:
        return [text]
    segments, current, used = [], "", 0
    for ch in text:
        if used + cost(ch) > multi:
            segments.append(current)
            current, used = "", 0
        current += ch
        used += cost(ch)
    return [*segments, current]


@FUZZ
@given(any_text)
def test_segment_counts_follow_the_gsm7_and_ucs2_rules(text: str) -> None:
    segments = reference_segments(text)
    assert "".join(segments) == text  # the segments, joined, are the text
    assert segment_count(text) == len(segments)


@FUZZ
@given(basic_text)
def test_plain_gsm7_text_costs_one_segment_per_153_characters_past_160(text: str) -> None:
    expected = 1 if len(text) <= 160 else math.ceil(len(text) / 153)
    assert segment_count(text) == expected


@FUZZ
@given(st.text(alphabet=st.sampled_from("áéíóúñ中文ЖЯ abc"), min_size=1, max_size=400).filter(lambda t: not is_gsm7(t)))
def test_ucs2_text_without_pairs_costs_one_segment_per_67_units_past_70(text: str) -> None:
    expected = 1 if len(text) <= 70 else math.ceil(len(text) / 67)
    assert segment_count(text) == expected


@FUZZ
@given(gsm_text, st.sampled_from("áé中😀"))
def test_one_character_outside_gsm7_makes_the_whole_message_ucs2(text: str, outsider: str) -> None:
    mixed = text + outsider
    units = len(mixed.encode("utf-16-le")) // 2
    assert segment_count(mixed) >= (1 if units <= 70 else math.ceil(units / 67))


words = st.text(
    alphabet=st.sampled_from(BASIC.replace(" ", "").replace("\n", "").replace("\r", "")), min_size=1, max_size=40
)
sentences = st.lists(words, min_size=1, max_size=15).map(lambda ws: " ".join(ws) + ".")
replies = st.lists(sentences, min_size=1, max_size=12).map(" ".join)
PREFIX = re.compile(r"^\((\d+)/(\d+)\) ")


@FEW
@given(
    replies
    | st.lists(st.text(alphabet=st.sampled_from("áé中😀 abc."), min_size=1, max_size=30), max_size=40).map(" ".join)
)
def test_a_long_reply_splits_into_numbered_messages_that_fit_and_keep_every_word(text: str) -> None:
    parts = split_reply(text)
    if len(parts) > 1:
        numbers = [PREFIX.match(p) for p in parts]
        assert all(numbers), parts
        assert [(int(m[1]), int(m[2])) for m in numbers if m] == [(i, len(parts)) for i in range(1, len(parts) + 1)]
        bodies = [PREFIX.sub("", p, count=1) for p in parts]
    else:
        bodies = parts
    assert all(segment_count(p) <= 2 for p in parts), [(segment_count(p), p) for p in parts]
    assert " ".join(bodies).split() == text.split()  # every word, in order, nothing added
