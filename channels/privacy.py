"""Personal data: find and redact it in customers' text before anything stores or logs it; hash sender ids.

`redact` replaces each piece of personal data with a placeholder (`[PHONE]`, `[EMAIL]`, `[SSN]`, `[NAME]`,
`[CARD]`, `[ACCOUNT]`, `[CASE]`, `[DOB]`, `[ADDRESS]`) and leaves the rest of the question as it was, so it
stays readable: "my phone is 555-867-5309" becomes "my phone is [PHONE]".

Detection runs on Microsoft Presidio's analyzer (presidio-analyzer). Its own recognisers find card numbers
(with the Luhn check), IBANs, SSNs and phone numbers (Google's libphonenumber, US, Spanish and Mexican
formats); ours, below, find what it has no pattern for: names after a title or an introduction ("Mrs. Ortiz",
"me llamo Ana Ruiz"), email addresses, phone numbers in the shapes customers type them, account and case
numbers named as such ("case no. 12345678", "número de caso"), dates of birth only when marked as one ("DOB",
"born", "fecha de nacimiento": "the deadline is March 3" stays), and street addresses ("12 Oak St", "Calle
Mayor 5"). Presidio's NER needs a downloaded spaCy model; none is used: its NLP engine runs a blank spaCy
pipeline (a tokenizer only), so nothing is downloaded, at install or at run time. Presidio's email and URL
recognisers are left out, since they fetch the public suffix list from the internet.

Where found pieces overlap, they are joined into one and take the label of the likeliest, so no part of a
number survives between two placeholders.

`hash_sender` is a keyed HMAC-SHA256 of a sender id (PRIVACY_KEY is the key): the same customer always gets
the same hash, so a conversation's turns join up, and without the key a hash cannot be traced back to a
phone number by trying them all.
"""

from __future__ import annotations

import hashlib
import hmac
import sys
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import regex

if TYPE_CHECKING:
    from presidio_analyzer import AnalyzerEngine

KINDS = ("NAME", "EMAIL", "PHONE", "SSN", "CARD", "ACCOUNT", "CASE", "DOB", "ADDRESS")
MIN_SCORE = 0.4  # presidio's results below this (a bare number that might be anything) are dropped
REGEX_TIMEOUT = 1.0  # seconds one pattern may take on one text; a longer match is given up, not waited for
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Found:
    """One piece of personal data: `text[start:end]`, of kind `kind` (one of KINDS)."""

    start: int
    end: int
    kind: str
    score: float


# -- our patterns --------------------------------------------------------------------------------------------
# Each has a group `pii`: only that part is replaced, so "case no. 12345678" keeps its words.

_UP, _LOW = "A-ZÁÉÍÓÚÑÜ", "a-záéíóúñü'’"
_CAP = rf"(?-i:(?:O['’]|D['’]|Mc|Mac)?[{_UP}][{_LOW}]+(?:-[{_UP}][{_LOW}]+)?)"  # one capitalised name: O'Brien
_PARTICLE = r"(?:de|del|de\s+la|de\s+los|van|von|y|da|di|la|le|st\.?|mc)"
_NAME = rf"{_CAP}(?:\s+(?:{_PARTICLE}\s+)?{_CAP}){{0,3}}"
_WORD = r"[a-záéíóúñü'’-]+"
_LOWER_NAME = rf"{_WORD}(?:\s+(?:{_PARTICLE}\s+)?{_WORD}){{0,2}}"

_MONTHS_EN = (
    r"(?:january|february|march|april|may|june|july|august|september|october|november|december"
    r"|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec)\.?"
)
_MONTHS_ES = r"(?:enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|setiembre|octubre|noviembre|diciembre)"
_DATE = (
    r"(?:\d{1,2}[/.-]\d{1,2}[/.-](?:\d{4}|\d{2})(?!\d)"
    r"|\d{4}-\d{1,2}-\d{1,2}"
    rf"|{_MONTHS_EN}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTHS_EN},?\s+\d{{4}}"
    rf"|\d{{1,2}}\s+(?:de\s+)?{_MONTHS_ES}\s+(?:de\s+|del\s+)?\d{{4}}"
    rf"|(?:{_MONTHS_EN}|{_MONTHS_ES})\s+(?:de\s+|del\s+)?\d{{4}}"
    r"|(?:19|20)\d{2})"
)
_DOB_MARK = (
    r"(?:\bd\.?o\.?b\b\.?|date\s+of\s+birth|birth\s*date|birthday|\bborn\b(?:\s+(?:on|in))?"
    r"|fecha\s+de\s+nacimiento|f\.\s*(?:de\s+)?nac\.?|\bnac[ií]\b(?:\s+(?:el|en))?|nacid[oa]\s+(?:el|en)"
    r"|cumpleaños|mi\s+cumple)"
)
# An id named as such: capitals and digits, with at least five digits and not a year or years (see _check).
_ID = r"(?:(?-i:[A-Z]{1,4})[-\s]?)?\d[\da-z-]*(?:\s\d[\d-]*){0,3}"
_NUMBER_WORD = r"(?:\s*(?:id|number|num|no\.?|nbr|\#|n[úu]mero|nº|n°|no\s+de|code|c[óo]digo))?"
_IS = r"(?:\s*(?:is|es|was|era|:|=|-))?\s*\#?\s*"
_CASE_WORD = (
    r"(?:case|caso|claim|reclamo|reclamaci[óo]n|application|solicitud|confirmation|confirmaci[óo]n"
    r"|reference|referencia|ref\.?|ticket|expediente|tracking|appeal|apelaci[óo]n|folio|tr[áa]mite|request)"
)
_ACCOUNT_WORD = (
    r"(?:account|acct\.?|a/c|member|client|customer|participant|recipient|beneficiary|medicaid|medicare|ebt"
    r"|ebt\s+card|policy|routing|cuenta|cliente|beneficiario|afiliado|tarjeta\s+ebt|id|identificaci[óo]n"
    r"|employee|empleado|license|licencia|passport|pasaporte|itin|dni|nie|nif|curp|rfc|c[ée]dula)"
)
_STREET_SUFFIX = (
    r"(?:street|st|avenue|ave|av|road|rd|boulevard|blvd|lane|ln|drive|dr(?!\.?\s+(?-i:[A-Z][a-z]))|court|ct"
    r"|place|pl|way|terrace|ter|circle|cir|parkway|pkwy|highway|hwy|square|sq|trail|trl|loop|alley|pike)"
)
_UNIT = r"(?:\s*,?\s*(?:apt|apartment|unit|suite|ste|fl|floor|\#|rm|room)\.?\s*\#?\s*[a-z0-9-]{1,6}\b)?"
_CITY = r"(?:\s*,\s*(?-i:[A-Z][a-z]+(?:\s+[A-Z][a-z]+){0,2}),?\s+(?-i:[A-Z]{2})(?:\s+\d{5}(?:-\d{4})?)?)?"
_CALLE = (
    r"(?:calle|c/|avenida|avda\.?|av\.|paseo|plaza|pza\.?|camino|carretera|ctra\.?|calzada|carrera|cra\.?"
    r"|privada|callej[óo]n|bulevar|ronda|traves[íi]a|glorieta|colonia|col\.)"
)

PATTERNS: dict[str, tuple[tuple[str, float], ...]] = {
    "EMAIL": ((r"(?P<pii>\b[a-z0-9][a-z0-9._%+-]*@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}\b)", 1.0),),
    "SSN": (
        (r"(?<![\d-])(?P<pii>\d{3}-\d{2}-\d{4})(?![\d-])", 0.85),
        (r"(?<![\d ])(?P<pii>\d{3} \d{2} \d{4})(?![\d])", 0.6),
        (
            r"(?:\bssn|\bss\#|social\s+security(?:\s+(?:number|no\.?|\#|card))?|soc\.?\s+sec\.?"
            r"|seguro\s+social|\bnss\b)(?:\s*(?:is|es|are|son|:|\#|number|n[úu]mero|(?:that\s+)?ends?\s+in|ending\s+in"
            r"|termina(?:do)?\s+en|(?:the\s+)?last\s+(?:4|four)(?:\s+digits)?|(?:los\s+)?[úu]ltimos\s+(?:4|cuatro)"
            r"(?:\s+d[íi]gitos)?))*\s*"
            r"(?P<pii>\d{3}[-\s]?\d{2}[-\s]?\d{4}|\d{4})(?!\d)",
            0.95,
        ),
    ),
    "PHONE": (
        (r"(?<![\w+-])(?P<pii>(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-]?)\d{3}[\s.-]?\d{4})(?![\w-])", 0.7),
        (r"(?<![\w.-])(?P<pii>\d{3}[-.]\d{4})(?![\w-])", 0.5),
        (r"(?<![\w+-])(?P<pii>(?:(?:\+|00)34[\s.-]?)?[6789]\d{2}(?:[\s.-]?\d{2}){3})(?![\w-])", 0.7),
        (r"(?<![\w+-])(?P<pii>(?:(?:\+|00)34[\s.-]?)?[6789]\d{2}[\s.-]\d{3}[\s.-]\d{3})(?![\w-])", 0.7),
        (r"(?<![\w+-])(?P<pii>(?:\+|00)52[\s.-]?(?:1[\s.-]?)?\d{2,3}[\s.-]?\d{3,4}[\s.-]?\d{4})(?![\w-])", 0.7),
        (r"(?<![\w+])(?P<pii>\+\d{1,3}[\s.-]?\(?\d{1,4}\)?(?:[\s.-]?\d){6,11})(?![\w-])", 0.6),
        (
            r"(?:phone|cell|mobile|tel[ée]fono|\btel\b\.?|celular|\bcel\b\.?|m[óo]vil|whatsapp|call\s+me\s+at"
            r"|text\s+me\s+at|reach\s+me\s+at|ll[áa]m[ae]me\s+al|m[áa]ndame\s+un\s+mensaje\s+al|my\s+number\s+is"
            r"|mi\s+n[úu]mero\s+es|mi\s+n[úu]mero\s+de\s+tel[ée]fono\s+es|number\s+on\s+file)[^\d\n]{0,12}"
            r"(?P<pii>\+?\(?\d[\d\s().-]{5,16}\d)(?!\d)",
            0.8,
        ),
    ),
    "CARD": (
        (
            r"(?:card|tarjeta|visa|mastercard|amex|debit|d[ée]bito|cr[ée]dito)[^\d\n]{0,25}"
            r"(?:ending\s+in|ends\s+in|terminada\s+en|que\s+termina\s+en|last\s+(?:4|four)(?:\s+digits)?(?:\s+are)?"
            r"|[úu]ltimos\s+(?:4|cuatro)(?:\s+d[íi]gitos)?(?:\s+son)?)\s*:?\s*(?P<pii>\d{4})(?!\d)",
            0.9,
        ),
    ),
    "DOB": ((rf"{_DOB_MARK}(?:\s*(?:is|was|es|fue|:|-|,|el|on|the|de))*\s*(?P<pii>{_DATE})(?!\d)", 0.95),),
    "ADDRESS": (
        (
            rf"(?<![\w-])(?P<pii>\d{{1,6}}[a-z]?\s+(?:[nsew]\.?\s+|north\s+|south\s+|east\s+|west\s+)?"
            rf"(?:[a-z0-9'.]+\s+){{0,3}}?{_STREET_SUFFIX}\b\.?{_UNIT}{_CITY})",
            0.75,
        ),
        (r"(?P<pii>\bp\.?\s?o\.?\s*box\s+\d+|\bapartado(?:\s+postal)?\s+\d+)", 0.85),
        (
            rf"(?P<pii>\b{_CALLE}\s+(?:(?:de|del|la|las|los|el)\s+)*[\wáéíóúñü.'-]+(?:\s+[\wáéíóúñü.'-]+){{0,3}}?"
            r",?\s*(?:n[ºo°]\.?\s*|\#\s*|n[úu]mero\s+)?\d{1,5}[a-z]?\b"
            r"(?:\s*,?\s*(?:\d{1,2}\s*[ºª°](?:\s*(?:izquierda|derecha|izq\.?|dcha\.?|centro|[a-z])\b)?|piso\s+\d+"
            r"|puerta\s+\w+|dep(?:to|artamento)\.?\s*\w+"
            r"|apto\.?\s*\w+|int(?:erior)?\.?\s*\w+|\d{1,2}[a-z]\b))*)",
            0.8,
        ),
        (
            rf"(?:vivo\s+en|live\s+at|living\s+at|address\s+is|direcci[óo]n\s+es|domicilio(?:\s+es)?)\s*:?\s*"
            rf"(?P<pii>\d{{1,6}}\s+(?:[a-z0-9'.]+\s+){{1,3}}?[a-z]+\.?{_UNIT})(?=\s*(?:[,.;!?\n]|$|and\b|y\b))",
            0.8,
        ),
    ),
    "NAME": (
        (
            rf"(?<![\w])(?:(?i:mr|mrs|ms|miss|mx|dr|dra|sr|sra|srta|sres|dña|doña|lic|lcdo|lcda|ing|prof|profa)\.?|(?-i:Don))\s+(?P<pii>{_NAME})",
            0.85,
        ),
        (
            rf"(?:\bmy\s+name\s+is|\bmy\s+name's|\bname\s*:|\bme\s+llamo|\bmi\s+nombre\s+es|\bnombre\s*:"
            rf"|\ble\s+escribe|\bles\s+escribe)\s+(?P<pii>{_NAME}|{_LOWER_NAME})",
            0.9,
        ),
        (
            r"(?:^|[.!?\n]\s*|,\s*)(?:(?:hi|hello|hey|hola|buenos\s+d[íi]as|buenas(?:\s+tardes)?)[,!]?\s+)?"
            rf"(?:this\s+is|i\s+am|i'm|soy|habla|it's)\s+(?P<pii>{_NAME})",
            0.6,
        ),
        (
            rf"\b(?:my|mi|mis)\s+(?:son|daughter|husband|wife|mother|mom|father|dad|child|kid|grandson|granddaughter"
            rf"|grandmother|grandfather|brother|sister|partner|hijo|hija|esposo|esposa|marido|madre|mam[áa]|padre"
            rf"|pap[áa]|abuela|abuelo|nieto|nieta|hermano|hermana|pareja|tío|tía),?\s+(?P<pii>{_NAME})",
            0.7,
        ),
        (
            rf"(?:^|\n|[.!?]\s+)(?:thanks|thank\s+you|regards|best|sincerely|cheers|gracias|saludos|atentamente"
            rf"|cordialmente|un\s+saludo)[,!.]?\s+(?:-+\s*)?(?P<pii>{_NAME})\s*[.!]?\s*$",
            0.7,
        ),
        (rf"(?:^|\s)[-–—~]\s*(?P<pii>{_NAME})\s*$", 0.6),
    ),
    "CASE": (
        (rf"\b{_CASE_WORD}{_NUMBER_WORD}{_IS}(?P<pii>{_ID})", 0.95),
        (
            rf"(?:\bn[úu]mero|\bno\.?|\bnº|\bn°|\bnum\.?)\s+de\s+{_CASE_WORD}{_IS}(?P<pii>{_ID})",
            0.95,
        ),
    ),
    "ACCOUNT": (
        (rf"\b{_ACCOUNT_WORD}{_NUMBER_WORD}{_IS}(?P<pii>{_ID})", 0.95),
        # a card-like number that fails the Luhn check (an EBT or account number): four groups of digits
        (r"(?<![\d-])(?P<pii>\d{4}[ -]\d{4}[ -]\d{4}[ -]\d{1,7})(?![\d-])", 0.6),
        (rf"(?:\bn[úu]mero|\bno\.?|\bnº|\bn°|\bnum\.?)\s+de\s+{_ACCOUNT_WORD}{_IS}(?P<pii>{_ID})", 0.95),
    ),
}


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Capitalised words after "this is" / "soy" / a dash that are not names.
NOT_NAMES = _words(
    "a an the this that it my mi form forma snap wic medicaid medicare tanf liheap ssi ssdi social security "
    "english spanish español espanol ebt calfresh chip usda irs dhs hud fema va yes no si sí ok okay hello hi "
    "hola thanks gracias please por favor help ayuda question pregunta about sobre re fw fwd urgent urgente "
    "monday tuesday wednesday thursday friday saturday sunday lunes martes miércoles jueves viernes sábado "
    "domingo january february march april may june july august september october november december enero "
    "febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre i yo we nosotros "
    "unemployed disabled retired veteran eligible new single married pregnant embarazada desempleado "
    "desempleada jubilado jubilada casado casada soltero soltera and y or o in en on at for para with con "
    "from de del to a al is es was sent enviado mr mrs ms miss mx dr dra sr sra srta sres don doña dña lic lcdo "
    "lcda ing prof profa"
)
LOWER_STOP = _words(
    "and y i my mi from de del to a al is es was and i'm im i am the el la and but pero please por favor "
    "thanks gracias how what when where why can could would como que cuando donde por porque puedo "
    "necesito need want quiero tengo have has estoy am soy here aqui aquí and also tambien también "
    "calling writing escribiendo llamando about sobre with con in en on at for para"
)


STREET_SUFFIXES = _words(
    "street st avenue ave av road rd boulevard blvd lane ln drive dr court ct place pl way terrace ter circle "
    "cir parkway pkwy highway hwy square sq trail trl loop alley pike"
)
# Words that do not stand between a house number and its street's suffix: "14 days in a row", "$60 in court
# costs", "exit 14 for Mill Road", "routes 31 and 33 stop at Cedar Street".
ADDRESS_STOP = _words(
    "in a an the of for to at and or on by from with into my your our their his her its this that these those "
    "stop stops exit exits route routes bus buses days weeks months years hours minutes times people kids "
    "children more less than about after before"
)
ZIP_PLUS_4 = regex.compile(r"\d{5}-\d{4}")
YEARS = regex.compile(r"(?:19|20)\d{2}(?:\s*[-/–]\s*(?:(?:19|20)?\d{2}))?(?:\s+(?:19|20)\d{2})*")


def _address(span: str) -> tuple[int, int] | None:
    """A house number, street words and a suffix, unless a word in between shows it is no street."""
    if span[:1].isdigit():
        for word in span.split()[1:5]:
            bare = word.strip(".,#").lower()
            if bare in STREET_SUFFIXES:
                break
            if bare in ADDRESS_STOP:
                return None
    return 0, len(span)


def _name_words(span: str) -> tuple[int, int] | None:
    """The part of a name match that is a name: leading words up to the first that is not (None: nothing)."""
    words = list(regex.finditer(r"[^\s]+", span))
    keep = 0
    for i, word in enumerate(words):
        bare = word.group().strip(".,'’").lower()
        if bare in NOT_NAMES or bare in LOWER_STOP:
            if i == 0 or bare not in ("de", "del", "la", "y", "van", "von", "da", "di", "le"):
                break
            continue
        keep = i + 1
    if keep == 0:
        return None
    return 0, words[keep - 1].end()


def _recognizers() -> list[Any]:
    """Presidio's recognisers that we use, then ours (imported here: presidio and spaCy are heavy)."""
    from presidio_analyzer import LocalRecognizer, RecognizerResult
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        IbanRecognizer,
        PhoneRecognizer,
        UsSsnRecognizer,
    )

    class MarkedRecognizer(LocalRecognizer):
        """Our regular expressions: only the group `pii` of each match is personal data."""

        def __init__(self, kind: str, patterns: tuple[tuple[str, float], ...]) -> None:
            self.compiled = [
                (regex.compile(p, regex.IGNORECASE | regex.MULTILINE | regex.VERSION0), s) for p, s in patterns
            ]
            super().__init__(supported_entities=[kind], name=f"privacy_{kind.lower()}")

        def load(self) -> None:
            pass

        def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[Any]:
            kind = self.supported_entities[0]
            results = []
            for pattern, score in self.compiled:
                for match in pattern.finditer(text, timeout=REGEX_TIMEOUT):
                    start, end = match.span("pii")
                    span = _check(kind, text[start:end])
                    if span is None:
                        continue
                    results.append(RecognizerResult(kind, start + span[0], start + span[1], score))
            return results

    return [
        CreditCardRecognizer(supported_entity="CARD"),
        IbanRecognizer(supported_entity="ACCOUNT"),
        UsSsnRecognizer(supported_entity="SSN"),
        PhoneRecognizer(supported_entity="PHONE", supported_regions=("US", "ES", "MX"), leniency=1),
        *(MarkedRecognizer(kind, patterns) for kind, patterns in PATTERNS.items()),
    ]


def _check(kind: str, span: str) -> tuple[int, int] | None:
    """The part of `span` that really is of `kind`, relative to it; None when none is."""
    if kind == "NAME":
        return _name_words(span)
    if kind == "ADDRESS":
        return _address(span)
    if kind in ("CASE", "ACCOUNT"):
        digits = sum(ch.isdigit() for ch in span)
        trimmed = span.rstrip(" -")
        if YEARS.fullmatch(trimmed):  # "the 2023-2024 school year", "Medicaid 2024 2025"
            return None
        return (0, len(trimmed)) if 5 <= digits <= 20 else None
    if kind == "PHONE":
        digits = sum(ch.isdigit() for ch in span)
        return (0, len(span.rstrip(" .-("))) if 7 <= digits <= 15 else None
    return 0, len(span)


def _import_without_torch() -> None:
    """Import spaCy and Presidio with torch and transformers hidden, when neither is loaded yet.

    spaCy's thinc imports torch, and Presidio transformers, when they are installed: about 350 MB in the
    gateway for nothing (blank pipeline, pattern recognisers). Hidden, both fall back and redaction is the
    same. They are hidden only while these imports run, under content_sync.embed's MODEL_IMPORT_LOCK, so a
    later `import torch` (the degraded path's search model) still works.
    """
    from content_sync.embed import MODEL_IMPORT_LOCK

    with MODEL_IMPORT_LOCK:
        hidden = [name for name in ("torch", "transformers") if name not in sys.modules]
        for name in hidden:
            sys.modules[name] = None  # type: ignore[assignment]
        try:
            import presidio_analyzer.nlp_engine
            import presidio_analyzer.predefined_recognizers  # noqa: F401
            import spacy  # noqa: F401
        finally:
            for name in hidden:
                if name in sys.modules and sys.modules[name] is None:
                    del sys.modules[name]


@lru_cache(maxsize=1)
def _analyzer() -> AnalyzerEngine:
    """Presidio's analyzer with a blank spaCy pipeline (no model) and the recognisers above, made once."""
    _import_without_torch()
    import spacy
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    class BlankSpacyEngine(SpacyNlpEngine):
        """spaCy's tokenizer alone: presidio's analyzer needs tokens, our recognisers need no model."""

        def load(self) -> None:
            self.nlp = {"en": spacy.blank("en")}  # type: ignore[assignment]

    engine = BlankSpacyEngine(models=[{"lang_code": "en", "model_name": "blank"}])
    engine.load()
    registry = RecognizerRegistry(recognizers=_recognizers(), supported_languages=["en"])
    return AnalyzerEngine(registry=registry, nlp_engine=engine, supported_languages=["en"])


def _spurious(result: Any, text: str) -> bool:
    """Presidio's results that are not what they seem: empty, or a ZIP+4 code read as a Spanish phone number."""
    found = text[result.start : result.end]
    return not found or (result.entity_type == "PHONE" and ZIP_PLUS_4.fullmatch(found) is not None)


def warm_up() -> None:
    """Load the analyzer now (a few seconds, once per process) rather than on the first customer's message."""
    with _LOCK:
        _analyzer()


def find_pii(text: str) -> list[Found]:
    """The personal data in `text`, in order, overlapping pieces joined (see the module's docstring)."""
    if not text or not text.strip():
        return []
    with _LOCK:
        analyzer = _analyzer()
    results = sorted(
        (r for r in analyzer.analyze(text, language="en") if r.score >= MIN_SCORE and not _spurious(r, text)),
        key=lambda r: (r.start, -r.end),
    )
    joined: list[list[Any]] = []  # [start, end, kind, score]
    for r in results:
        if joined and r.start < joined[-1][1]:
            last = joined[-1]
            last[1] = max(last[1], r.end)
            if r.score > last[3]:
                last[2], last[3] = r.entity_type, r.score
        else:
            joined.append([r.start, r.end, r.entity_type, r.score])
    return [Found(start, end, kind, score) for start, end, kind, score in joined]


def redact(text: str) -> str:
    """The text with each piece of personal data replaced by its placeholder, e.g. `[PHONE]`; the rest kept."""
    out = text
    for found in reversed(find_pii(text)):
        out = out[: found.start] + f"[{found.kind}]" + out[found.end :]
    return out


def hash_sender(secret: str, sender: str) -> str:
    """A keyed HMAC-SHA256 (64 hex digits) of a sender id: the same sender and key always give the same hash."""
    if not secret:
        raise ValueError("hash_sender needs a key: set PRIVACY_KEY (make run writes one into .env)")
    return hmac.new(secret.encode(), sender.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def customer_hash(secret: str, channel: str, address: str) -> str:
    """The keyed hash that stands for a customer's phone number (`sms`) or email address (`email`) in the
    database: 64 hex digits. Email addresses are compared without case.
    """
    key = address.strip().lower() if channel == "email" else address.strip()
    return hash_sender(secret, f"{channel}:{key}")


def pseudonym(secret: str, channel: str, address: str) -> str:
    """The Rasa sender id for a customer known by a phone number or an email address: `sms:<hash>`.

    Rasa (and whatever it logs) sees this, never the number or the address; the same customer always gets the
    same id, so the conversation goes on from one message to the next.
    """
    return f"{channel}:{customer_hash(secret, channel, address)[:40]}"


def mask_email(secret: str, address: str) -> str:
    """An email address as the spool's notes and the reply limiter keep it: `<hash>@domain`. The same address
    always gives the same mask (so per-address and per-domain limits still count), and the mailbox name is
    never written down.
    """
    domain = address.rsplit("@", 1)[-1].strip().lower() if "@" in address else ""
    return f"{customer_hash(secret, 'email', address)[:24]}@{domain}"
