"""Make a customer's query searchable: SMS shorthand spelled out, misspelt words corrected against the index."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from content_sync.lexical import words

__all__ = ["corrections", "expand_shorthand", "normalise_query"]

# Texting shorthand that customers use, spelled out. Only whole tokens are replaced, and only ones that are
# never real words in the guidance; "4" and "2" are handled apart, because "a family of 4" means four.
SHORTHAND = {
    "en": {
        "u": "you",
        "ur": "your",
        "r": "are",
        "y": "why",
        "b4": "before",
        "wat": "what",
        "wut": "what",
        "wht": "what",
        "wats": "what is",
        "whats": "what is",
        "wen": "when",
        "whn": "when",
        "hw": "how",
        "hv": "have",
        "pls": "please",
        "plz": "please",
        "cuz": "because",
        "bc": "because",
        "coz": "because",
        "w/": "with",
        "w/o": "without",
        "im": "i am",
        "ive": "i have",
        "cant": "cannot",
        "wont": "will not",
        "dont": "do not",
        "doesnt": "does not",
        "didnt": "did not",
        "isnt": "is not",
        "abt": "about",
        "appt": "appointment",
        "info": "information",
        "govt": "government",
        "dept": "department",
        "txt": "text",
        "msg": "message",
        "n": "and",
        "da": "the",
        "wanna": "want to",
        "gonna": "going to",
        "gotta": "have to",
        "pmt": "payment",
        "amt": "amount",
        "acct": "account",
        "yr": "year",
        "yrs": "years",
        "mo": "month",
        "mos": "months",
        "wk": "week",
        "wks": "weeks",
        "ppl": "people",
        "bday": "birthday",
        "tmrw": "tomorrow",
        "2day": "today",
        "2morrow": "tomorrow",
        "ty": "thank you",
        "thx": "thanks",
        "#": "number",
        "num": "number",
        "no.": "number",
        "addy": "address",
        "sum1": "someone",
        "some1": "someone",
        "any1": "anyone",
        "gf": "girlfriend",
        "bf": "boyfriend",
        "bro": "brother",
        "sis": "sister",
    },
    "es": {
        "q": "que",
        "k": "que",
        "ke": "que",
        "xq": "porque",
        "pq": "porque",
        "porq": "porque",
        "x": "por",
        "xfa": "por favor",
        "porfa": "por favor",
        "tb": "también",
        "tmb": "también",
        "d": "de",
        "dnd": "donde",
        "cdo": "cuando",
        "pa": "para",
        "msj": "mensaje",
        "info": "información",
        "tel": "teléfono",
        "hr": "hora",
        "hrs": "horas",
    },
}
# "4" means "for" and "2" means "to" when a word follows and the word before is not one that counts things.
COUNTING = {"of", "to", "for", "family", "household", "people", "persons", "kids", "children", "size", "age", "ages"}
# …nor when the word after it is one that is counted ("I have 2 kids", "we are 4 people").
COUNTED = {
    "people",
    "persons",
    "kids",
    "children",
    "adults",
    "months",
    "weeks",
    "days",
    "years",
    "hours",
    "jobs",
    "babies",
    "sons",
    "daughters",
    "grandchildren",
    "times",
    "cars",
    "bedrooms",
    "of",
}
SPELLED_DIGIT = {"4": "for", "2": "to"}
TOKEN = re.compile(r"w/o|w/|no\.|#|\$?\d+(?:[.,]\d+)*|[\w$']+|[^\w\s]")


def expand_shorthand(text: str, language: str = "en") -> str:
    """The query with texting shorthand spelled out; everything else is kept as typed."""
    table = SHORTHAND.get(language, {})
    tokens = TOKEN.findall(text)
    out: list[str] = []
    for i, token in enumerate(tokens):
        low = token.lower()
        nxt = tokens[i + 1].lower() if i + 1 < len(tokens) else ""
        prev = tokens[i - 1].lower() if i else ""
        if language == "en" and low in SPELLED_DIGIT and nxt.isalpha() and prev not in COUNTING and nxt not in COUNTED:
            out.append(SPELLED_DIGIT[low])
        elif low in table:
            out.append(table[low])
        else:
            out.append(token)
    return " ".join(out)


def corrections(tokens: Sequence[str], vocabulary: Counter[str], choices: Sequence[str]) -> dict[str, str]:
    """For each folded token the index has never seen, the closest, most frequent word it has.

    Up to 1 edit for words of 4–5 letters and 2 for longer ones; numbers and short words are left alone. These
    are added to the lexical query beside what was typed, never put in its place: "kids" must not become
    "kinds" for the embedding.
    """
    out: dict[str, str] = {}
    for token in tokens:
        if len(token) < 4 or token in vocabulary or not token.isalpha() or token in out:
            continue
        limit = 1 if len(token) <= 5 else 2
        found = process.extract(token, choices, scorer=Levenshtein.distance, score_cutoff=limit, limit=8)
        if found:
            out[token] = min(found, key=lambda m: (m[1], -vocabulary[m[0]]))[0]
    return out


def normalise_query(
    text: str, language: str, vocabulary: Counter[str], choices: Sequence[str]
) -> tuple[str, list[str], list[str]]:
    """What the rankers get: the text to embed (shorthand spelled out), the lexical tokens (those words plus
    their spelling fixes) and the question's words as meant (each misspelling replaced by its fix), for
    measuring how much of the question a page covers."""
    expanded = expand_shorthand(text, language)
    tokens = words(expanded)
    fixes = corrections(tokens, vocabulary, choices)
    return expanded, tokens + list(fixes.values()), [fixes.get(t, t) for t in tokens]
