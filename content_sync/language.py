"""Tell English from Spanish in a customer's message, with lingua (loaded once, only these two languages)."""

from __future__ import annotations

from functools import lru_cache

from lingua import Language, LanguageDetector, LanguageDetectorBuilder

from content_sync.lexical import fold

__all__ = ["detect_language"]

# Words that settle a short message on their own, where a statistical detector has too little to go on.
SPANISH_MARKERS = frozenset(
    [
        "como",
        "cuando",
        "donde",
        "cuanto",
        "cuanta",
        "cuantos",
        "que",
        "porque",
        "quien",
        "cual",
        "necesito",
        "puedo",
        "tengo",
        "quiero",
        "mi",
        "mis",
        "hijo",
        "hija",
        "beneficios",
        "solicitud",
        "solicitar",
        "tarjeta",
        "pago",
        "pagos",
        "ayuda",
        "dinero",
        "comida",
        "ingresos",
        "oficina",
        "llamar",
        "numero",
        "perdi",
        "perdio",
        "renovar",
        "apelar",
        "audiencia",
        "aviso",
        "hola",
        "gracias",
        "usted",
        "esta",
        "estoy",
    ]
)
ENGLISH_MARKERS = frozenset(
    [
        "how",
        "what",
        "when",
        "where",
        "who",
        "why",
        "which",
        "the",
        "my",
        "your",
        "is",
        "are",
        "do",
        "does",
        "can",
        "could",
        "should",
        "would",
        "will",
        "i",
        "you",
        "apply",
        "benefits",
        "card",
        "payment",
        "help",
        "money",
        "food",
        "office",
        "call",
        "number",
        "lost",
        "renew",
        "appeal",
        "hearing",
        "notice",
    ]
)


@lru_cache(maxsize=1)
def _detector() -> LanguageDetector:
    return LanguageDetectorBuilder.from_languages(Language.ENGLISH, Language.SPANISH).build()


def detect_language(text: str) -> str:
    """ "es" or "en" (the default when unsure); accents and inverted marks count as Spanish."""
    if any(ch in text for ch in "¿¡ñÑ"):
        return "es"
    tokens = fold(text).split()
    es = sum(t.strip(".,?!") in SPANISH_MARKERS for t in tokens)
    en = sum(t.strip(".,?!") in ENGLISH_MARKERS for t in tokens)
    if len(tokens) <= 4 and es != en:
        return "es" if es > en else "en"
    confidence = _detector().compute_language_confidence(text, Language.SPANISH)
    if confidence >= 0.6:
        return "es"
    if confidence <= 0.4:
        return "en"
    return "es" if es > en else "en"
