"""What a message means in its conversation: small talk, a follow-up, a pick among offered choices, a request
for someone's own case, or an attempt to instruct the assistant. Pure functions of the text and the slots."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from content_sync.search import Hit, stem_tokens, words

# Words that make up greetings, thanks, goodbyes and "are you a bot"; a message with two or more other
# content words is a question too ("hi, how do I apply?") and goes to the search.
SMALL_TALK_WORDS = frozenset(
    [
        "hi",
        "hii",
        "hiya",
        "hello",
        "helo",
        "hallo",
        "hey",
        "heya",
        "howdy",
        "yo",
        "sup",
        "morning",
        "afternoon",
        "evening",
        "good",
        "day",
        "night",
        "greetings",
        "there",
        "thanks",
        "thank",
        "thx",
        "ty",
        "tysm",
        "cheers",
        "appreciate",
        "appreciated",
        "much",
        "lot",
        "so",
        "very",
        "kindly",
        "bunch",
        "million",
        "obliged",
        "help",
        "helps",
        "helpful",
        "great",
        "ok",
        "okay",
        "cool",
        "nice",
        "awesome",
        "perfect",
        "bye",
        "goodbye",
        "goodnight",
        "later",
        "see",
        "ya",
        "cya",
        "soon",
        "take",
        "care",
        "farewell",
        "talk",
        "ttyl",
        "now",
        "done",
        "all",
        "that",
        "is",
        "for",
        "leaving",
        "signing",
        "off",
        "peace",
        "out",
        "until",
        "next",
        "time",
        "tomorrow",
        "great",
        "one",
        "have",
        "a",
        "are",
        "you",
        "a",
        "an",
        "bot",
        "robot",
        "human",
        "person",
        "real",
        "machine",
        "ai",
        "automated",
        "computer",
        "chatbot",
        "live",
        "agent",
        "am",
        "i",
        "talking",
        "to",
        "with",
        "chatting",
        "who",
        "what",
        "is",
        "this",
        "it",
        "the",
        "on",
        "other",
        "end",
        "typing",
        "answering",
        "being",
        "hola",
        "buenos",
        "buenas",
        "dias",
        "tardes",
        "noches",
        "gracias",
        "muchas",
        "adios",
        "chao",
        "hasta",
        "luego",
        "pronto",
        "nos",
        "vemos",
        "eres",
        "un",
        "una",
        "persona",
        "robot",
        "hablo",
        "con",
        "how",
        "doing",
        "again",
        "anyone",
        "anybody",
        "home",
        "assistant",
    ]
)
# Words that carry no topic but that the stopword lists keep (texting contractions, requests, politeness).
FILLER_WORDS = """whats hows wheres whens whos whys im ive id dont cant wont doesnt didnt isnt u ur pls plz please ok
okay also then still get got need want know tell say mean thing stuff question bit ask"""
FILLER = frozenset(stem_tokens(FILLER_WORDS.split(), "en"))
# What a question asks about any programme (its form, deadline, amount…): such a word names no programme.
ASPECT_WORDS = """apply application applying form forms document documents proof paper papers deadline amount amounts
much pay payment cost fee eligible eligibility qualify rules income limit limits decision decide status renew renewal
appeal interview mail online phone call contact send sent submit long take wait time date when"""
ASPECT = frozenset(stem_tokens(ASPECT_WORDS.split(), "en"))
ANAPHORA = re.compile(
    r"\b(that|it|this|those|these|them|they|there|one|ones|else|also|too|same|eso|esto|ese|esa|ahi|alli|tambien)\b"
    r"|^\s*(and|what about|how about|what if|y|¿y|and if|but|so)\b",
    re.IGNORECASE,
)
ORDINALS = {
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "1st": 1,
    "2nd": 2,
    "3rd": 3,
    "4th": 4,
    "primero": 1,
    "primera": 1,
    "segundo": 2,
    "segunda": 2,
    "tercero": 3,
    "tercera": 3,
    "cuarto": 4,
    "cuarta": 4,
}
# Number words count only as the whole reply or after "option", "number" ("the one for heating" is no pick).
NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "uno": 1, "dos": 2, "tres": 3, "cuatro": 4}
NUMBER_LEAD = {"option", "number", "choice", "opcion", "numero", "no"}
PERSONAL_ACCOUNT = re.compile(
    "|".join(
        [
            # a balance, or what is left on a claim
            r"\b(what('s| is)|whats|check|tell me|how much is|look up|cu[aá]l es|revise)\b.{0,15}\b(my|mi|mis)\b.{0,20}"
            r"\b(balance|saldo)\b",
            r"\bhow much (money )?(is|do i have|have i got|i have)( left)? (on|in|o) my\b",
            r"\bhow much (is )?left (on|in|of) my\b",
            r"\bcu[aá]nto (dinero )?(tengo|me queda|queda|hay) en mi\b",
            # the state of one's own application, claim or case
            r"\b(status|estado) (of|de) (my|mi)\b",
            r"^\W*(is|was|has|have|did|are|were|got|ya)\b.{0,10}\b(my|mi)\b.{0,40}\b(approved|denied|processed|"
            r"go(ne)? through|aprobad[ao]|negad[ao])\b",
            r"(?<!if )(?<!when )(?<!once )\b(my|mi)\b.{0,40}\b(approved|denied|processed|aprobad[ao]|negad[ao])"
            r"( yet| already| todav[ií]a)\s*\?",
            r"\b(check|see|find out|tell me) (if|whether) my (case|claim|application|payment|grant|allowance|"
            r"documents?|landlord)\b",
            r"\b(change|update|cambi[ea]r?|actualizar?)\b.{0,25}\b(address|direcci[oó]n|phone|tel[eé]fono)\b.{0,10}"
            r"\b(on|en|de) (my|mi)\b",
            r"\b(did|have|has) (you|u|they|y'all)\b.{0,15}\b(get|got|receive|received|process|processed)\b.{0,15}"
            r"\b(my|mi)\b",
            r"\b(recibieron|recibi[oó]) (mi|mis)\b",
            r"\b(did|have|has) (you|u|they)\b.{0,10}\b(get|got|receive|received)\b.{0,10}\b(the )?(documents?|papers?|"
            r"pay ?stubs?|forms?|application)\b.{0,20}\b(i|we) (sent|uploaded|mailed|faxed|dropped)\b",
            r"\bya (procesaron|recibieron|aprobaron)\b",
            r"\bwhy (was|were|is|are|did|has|have)\b.{0,25}\b(my|mi)\b.{0,40}\b(closed|cut|stopped|lowered|reduced|"
            r"denied|cancel+ed|late)\b",
            r"\bwhy\b.{0,12}\b(my|mi)\b.{0,40}\b(was|were|got|has been|have been|is)\b.{0,6}\b(closed|cut|stopped|"
            r"lowered|reduced|denied|rejected|refused|cancel+ed)\b",
            r"\bwhy did (my|the) (case ?worker|worker|office)\b",
            r"\bwhen is my (interview|appointment|hearing)\b.{0,30}\b(scheduled|set|booked)?",
            r"\bpor ?qu[eé]\b.{0,30}\b(cerraron|cortaron|redujeron|bajaron|negaron)\b",
            # one's own caseworker, or one's own record changed by the assistant
            r"\b(who|what)('s| is) my (case ?worker|worker)\b|\bmy (case ?worker)'?s? name\b",
            r"\b(can|could|would|will) you\b.{0,10}\b(change|update|cambiar|actualizar)\b.{0,15}\b(my|mi)\b.{0,20}"
            r"\b(address|direcci[oó]n|phone|tel[eé]fono|name|nombre)\b",
            r"\b(change|update)\b.{0,15}\bmy\b.{0,20}\b(address|phone|name)\b.{0,10}\b(to|on file)\b\s+\S*\d",
            r"\b(look up|check|pull up|find|busque|revise)\b.{0,10}\b(my|mi)\b.{0,10}\b(case|account|file|caso|cuenta|"
            r"application|solicitud)\b",
        ]
    ),
    re.IGNORECASE,
)
# A question about *how* to find one's own information is answerable from the guidance.
HOW_TO = re.compile(
    r"\b(how (do|can|would|should) (i|we)|how to|where (do|can) i|can i|what happens if|what if|como (puedo|hago)|"
    r"cómo)\b",
    re.I,
)
INJECTION = re.compile(
    r"ignore (all |any |the |your )?(previous |prior |above |earlier )?(instructions|rules|prompts?)"
    r"|system prompt|developer mode|jailbreak|(?-i:\bDAN\b)|you are now (a|an|in|dan|my)\b"
    r"|act as (an?|the|my) (ai|assistant|bot|system|admin|caseworker)|pretend (to be|you are)"
    r"|^\s*(system|assistant|admin)\s*:|\[(system|admin)\]|override (code|your)"
    r"|disregard (your|all|the) (previous |prior )?(instructions|rules|prompt)"
    r"|reveal (your|the) (instructions|prompt|rules|password|code)|print (your|the) (instructions|prompt)"
    r"|(forget|ignore|disregard) (all |any |the |your )?(previous |prior |earlier )?(rules|instructions)"
    r"|new instructions? from|</?(context|system|instructions)>|hidden (notes|instructions|prompt)"
    r"|(olvida|ignora) (todas )?(tus|las) (instrucciones|reglas)",
    re.IGNORECASE,
)


def content_words(text: str, language: str = "en") -> list[str]:
    """The stemmed words of a message that carry its topic (stopwords dropped)."""
    return stem_tokens(words(text), language)


def is_small_talk(text: str) -> bool:
    """True when every word of the message belongs to greetings, thanks, goodbyes or "are you a bot"."""
    extra = [w for w in words(text) if w not in SMALL_TALK_WORDS]
    return not extra or (len(extra) == 1 and "?" not in text)


def is_personal_account(text: str) -> bool:
    """A request that only someone's own case record could answer ("what is my balance")."""
    return bool(PERSONAL_ACCOUNT.search(text)) and not HOW_TO.search(text)


def is_injection(text: str) -> bool:
    """Text that tries to instruct the assistant rather than ask about the guidance."""
    return bool(INJECTION.search(text))


def points_back(text: str) -> bool:
    """A short message that refers to the earlier turn: "what form do I fill out for that?", "what about…"."""
    return bool(ANAPHORA.search(text)) and len(words(text)) <= 10


def topic_words(text: str, language: str = "en") -> set[str]:
    """The stemmed words of a message that could name a topic: its content words without the fillers that
    stopword lists miss ("whats", "pls", "need")."""
    return {w for w in content_words(text, language) if w not in FILLER}


def is_elliptical(text: str, language: str = "en", most: int = 2) -> bool:
    """A message with almost no topic words of its own ("how long does it take?", "whats the deadline?")."""
    return len(topic_words(text, language)) <= most


def names_other_programme(
    text: str, title: str, topic: str, language: str = "en", generic: frozenset[str] = frozenset()
) -> bool:
    """True when the message names the programme of page `title` by a word the conversation's topic (a
    programme name) doesn't have: "Also, which buses go to the Northvale Office?" after the Burial Allowance.
    Words in `generic` (in many programme names: "apply", "grant") name no programme in particular."""
    own = set(content_words(programme(title), language)) - set(content_words(topic, language)) - generic - ASPECT
    return bool(topic_words(text, language) & own)


def generic_title_words(titles: list[str], language: str = "en", most: int = 3) -> frozenset[str]:
    """The words found in more than `most` of the site's programme names ("apply", "allowance")."""
    counts: dict[str, int] = {}
    for name in {programme(t) for t in titles}:
        for word in set(content_words(name, language)):
            counts[word] = counts.get(word, 0) + 1
    return frozenset(w for w, n in counts.items() if n > most)


@dataclass(frozen=True)
class Choice:
    """One page offered when a question could mean several."""

    n: int
    title: str
    url: str

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "title": self.title, "url": self.url, "payload": str(self.n)}


def programme(title: str) -> str:
    """The part of a page title that names its programme: "Burial Allowance: how much" → "burial allowance"."""
    return re.split(r"\s[:|–—-]\s|:\s", title, maxsplit=1)[0].strip().lower()


def ambiguous_choices(question: str, hits: list[Hit], margin: float, language: str = "en") -> list[Choice]:
    """The 2–4 distinct programmes a question could mean, or [] when one page clearly answers it.

    A question is ambiguous when the best pages score within `margin` of each other, belong to different
    programmes (the part of their titles before a colon), and the question names none of them apart: its topic
    words that occur in their titles occur in all of them ("how much is the allowance?"), there is at least one
    such word, and they are a good part of what the question says (a long question that shares one word with
    the titles is about its other words).
    """
    if len(hits) < 2:
        return []
    close = [h for h in hits if hits[0].fused - h.fused <= margin]
    distinct: dict[str, Hit] = {}
    for hit in close:
        name = programme(hit.chunk.title)
        own = set(content_words(name, hit.language or language))
        # "Child Care Assistance Handbook" is the same programme as "Child Care Assistance": one family
        others = [set(content_words(n, language)) for n in distinct]
        if not any(own <= other or other <= own for other in others):
            distinct[name] = hit
    if len(distinct) < 2:
        return []
    asked = set(content_words(question, language))
    titles = [set(content_words(name, hit.language or language)) for name, hit in distinct.items()]
    named = [asked & t for t in titles]
    if not any(named):
        return []  # the question names no programme at all: it is about something else, answer it
    common = named[0].intersection(*named[1:])
    if any(n - common for n in named) or len(common) * 3 < len(asked):
        return []  # a word the question uses tells the programmes apart, or the question is about other things
    return [Choice(i, hit.chunk.title, hit.chunk.url) for i, hit in enumerate(list(distinct.values())[:4], 1)]


def pick_choice(text: str, choices: list[dict[str, Any]], language: str = "en") -> dict[str, Any] | None:
    """The offered choice a reply names: its number ("2", "the second one"), its title, or a word of it."""
    said = words(text)
    short = len(said) <= 3  # "2", "the second one", "número 2"
    for i, token in enumerate(said):
        led = i > 0 and said[i - 1] in NUMBER_LEAD
        n = int(token) if token.isdigit() else ORDINALS.get(token)
        if n is not None and not (short or led):
            n = None
        if n is None and token in NUMBER_WORDS and (len(said) == 1 or led):
            n = NUMBER_WORDS[token]
        if n is not None and 1 <= n <= len(choices):
            return choices[n - 1]
    asked = set(content_words(text, language))
    if not asked:
        return None
    scored = []
    for choice in choices:
        title = set(content_words(choice["title"], language))
        others = set().union(*(set(content_words(c["title"], language)) for c in choices if c is not choice))
        own = title - others
        scored.append((len(asked & own), len(asked & title), choice))
    scored.sort(key=lambda s: (s[0], s[1]), reverse=True)
    best = scored[0]
    if best[0] == 0 or (len(scored) > 1 and scored[1][0] == best[0]):
        return None
    return best[2]
