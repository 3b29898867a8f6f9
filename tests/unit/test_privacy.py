"""Redaction and keyed hashes (channels/privacy.py), measured on the corpus tests/fixtures/pii_messages.json."""

from __future__ import annotations

import hashlib
import hmac
import subprocess
import sys

import pytest

from bench.redaction_recall import load_corpus, measure
from channels.privacy import customer_hash, find_pii, hash_sender, mask_email, pseudonym, redact
from tests.conftest import ROOT

KEY = "test-privacy-key-0123456789"
CORPUS = load_corpus()


def test_the_corpus_is_big_enough_and_bilingual() -> None:
    langs = [m["lang"] for m in CORPUS]
    assert len(CORPUS) >= 120 and langs.count("en") >= 60 and langs.count("es") >= 60
    assert sum(1 for m in CORPUS if not m["spans"]) >= 30, "messages without personal data measure false positives"
    for message in CORPUS:
        for span in message["spans"]:
            assert message["text"].count(span["text"]) == 1, (message["id"], span["text"])


def test_recall_on_the_corpus_is_at_least_95_percent() -> None:
    tally = measure(CORPUS)
    total, found = sum(tally.spans.values()), sum(tally.found.values())
    assert found / total >= 0.95, tally.misses
    for kind, count in tally.spans.items():
        assert tally.found[kind] / count >= 0.9, (kind, tally.misses)


def test_held_out_messages_are_found_too() -> None:
    tally = measure([m for m in CORPUS if m["split"] == "held_out"])
    assert sum(tally.found.values()) / sum(tally.spans.values()) >= 0.95, tally.misses


@pytest.mark.parametrize("message", CORPUS, ids=[m["id"] for m in CORPUS])
def test_no_personal_data_survives_and_the_rest_does(message: dict[str, object]) -> None:
    redacted = redact(str(message["text"]))
    for span in message["spans"]:  # type: ignore[attr-defined]
        assert span["text"] not in redacted, f"{span['kind']} {span['text']!r} survived: {redacted!r}"
    for keep in message["keep"]:  # type: ignore[attr-defined]
        assert keep in redacted, f"{keep!r} was redacted: {redacted!r}"
    if not message["spans"]:
        assert redacted == message["text"]


def test_precision_on_the_corpus() -> None:
    tally = measure(CORPUS)
    assert tally.predicted_true / tally.predicted >= 0.95, tally.false_positives
    assert tally.clean_untouched == tally.clean_messages


def test_a_question_stays_readable() -> None:
    assert redact("How do I appeal? my phone is 555-867-5309") == "How do I appeal? my phone is [PHONE]"
    assert redact("case no. 12345678 status?") == "case no. [CASE] status?"
    assert redact("número de caso 87654321") == "número de caso [CASE]"
    assert redact("Mrs. Ortiz, DOB 03/04/1961") == "Mrs. [NAME], DOB [DOB]"
    assert redact("write to ana.ruiz@example.org") == "write to [EMAIL]"


@pytest.mark.parametrize(
    "text",
    [
        "the deadline is March 3",
        "Send Form DHS-1171 by 03/15/2026.",
        "The benefit is $1,234.56 a month for 4 people.",
        "If you are away for more than 14 days in a row, tell us.",
        "They owe $60 in court costs.",
        "Take exit 14 for Mill Road.",
        "Harrowgate, WM 80412-7730",
        "SNAP, WIC, TANF, LIHEAP and Medicaid",
        "La fecha límite es el 3 de marzo de 2026.",
        "Tengo 3 hijos y gano $1,800 al mes.",
        "This is Form SS-5.",
        "Soy desempleada y soltera.",
        "I was born in the city but moved in 2019.",
        "Is the Medicaid 2024-2025 renewal open?",
        "My application for the 2023-2024 school year",
        "a case from 2021 2022",
    ],
)
def test_what_is_not_personal_data_is_left_alone(text: str) -> None:
    assert redact(text) == text, find_pii(text)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("my card is 4111-1111-1111-1111", "CARD"),
        ("SSN 412 67 3390", "SSN"),
        ("mi número es +34 612 345 678", "PHONE"),
        ("text 5558675309", "PHONE"),
        ("fecha de nacimiento 12 de mayo de 1975", "DOB"),
        ("born Jan. 5, 1950", "DOB"),
        ("Calle Mayor 12", "ADDRESS"),
        ("me llamo ana torres y necesito ayuda", "NAME"),
        ("account # 0012-4477-9031", "ACCOUNT"),
        ("my claim is UC-2024-558812", "CASE"),
    ],
)
def test_each_kind_gets_its_placeholder(text: str, kind: str) -> None:
    assert f"[{kind}]" in redact(text), find_pii(text)


def test_empty_and_plain_text() -> None:
    assert redact("") == "" and redact("   ") == "   "
    assert redact("hello") == "hello"


def test_hash_sender_is_keyed_hmac_sha256_hex() -> None:
    expected = hmac.new(KEY.encode(), b"sms:+15550104477", hashlib.sha256).hexdigest()
    assert hash_sender(KEY, "sms:+15550104477") == expected
    assert len(expected) == 64 and int(expected, 16) >= 0
    assert hash_sender(KEY, "sms:+15550104477") == hash_sender(KEY, "sms:+15550104477")
    assert hash_sender("another-key-0123456789", "sms:+15550104477") != expected
    assert hash_sender(KEY, "sms:+15550104478") != expected
    with pytest.raises(ValueError, match="PRIVACY_KEY"):
        hash_sender("", "sms:+15550104477")


def test_pseudonyms_hide_the_number_and_stay_the_same() -> None:
    sender = pseudonym(KEY, "sms", "+15550104477")
    assert sender.startswith("sms:") and "5550104477" not in sender
    assert sender == pseudonym(KEY, "sms", "+15550104477") != pseudonym(KEY, "sms", "+15550104478")
    assert pseudonym(KEY, "email", "Ana@Example.org") == pseudonym(KEY, "email", "ana@example.org")
    assert customer_hash(KEY, "sms", "+15550104477").startswith(sender.removeprefix("sms:"))


def test_masked_addresses_keep_only_the_domain() -> None:
    masked = mask_email(KEY, "Resident@Example.org")
    assert masked.endswith("@example.org") and "resident" not in masked.lower()
    assert masked == mask_email(KEY, "resident@example.org")


def test_nothing_is_downloaded_when_the_analyzer_loads() -> None:
    """Every socket refused, in a fresh process: presidio loads and redacts without any model or list."""
    code = (
        "import socket\n"
        "def refuse(*a, **k): raise OSError('no network in this test')\n"
        "socket.socket.connect = refuse\nsocket.create_connection = refuse\n"
        "from channels.privacy import redact\n"
        "print(redact('my phone is 555-867-5309, email ana@example.org'))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "my phone is [PHONE], email [EMAIL]"
