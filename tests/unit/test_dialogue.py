"""What a message means in its conversation: the pure checks of content_sync.search.dialogue."""

from __future__ import annotations

import pytest

from content_sync.search.dialogue import (
    generic_title_words,
    is_elliptical,
    is_personal_account,
    names_other_programme,
    topic_words,
)

TITLES = [
    "Burial Allowance: how to apply",
    "Burial Allowance: amounts",
    "Newborn Essentials Allowance: how to apply",
    "Caregiver Allowance",
    "Household Essentials Allowance: full rules",
    "Apply by mail",
    "Northvale Office",
    "Documents you need",
]


@pytest.mark.parametrize(
    ("text", "most", "expected"),
    [
        ("whats the deadline to apply?", 2, True),  # "whats" carries no topic
        ("how long does it take?", 2, True),
        ("pls how do i ask for it", 2, True),
        ("how much is the burial allowance for a cremation", 2, False),
        ("how much is the burial allowance", 3, True),
    ],
)
def test_elliptical_messages_name_almost_no_topic(text: str, most: int, expected: bool) -> None:
    assert is_elliptical(text, "en", most) is expected


def test_fillers_are_not_topic_words() -> None:
    assert topic_words("whats the deadline pls") == {"deadlin"}


def test_generic_title_words_are_those_in_many_programme_names() -> None:
    generic = generic_title_words(TITLES, most=3)
    assert "allow" in generic  # four allowances
    assert "burial" not in generic and "northval" not in generic


def test_a_message_that_names_another_programme_is_a_new_question() -> None:
    generic = generic_title_words(TITLES, most=3)
    topic = "burial allowance"
    newborn = "Newborn Essentials Allowance: how to apply"
    buses = "Also, which buses go to the Northvale Office?"
    assert names_other_programme(buses, "Northvale Office", topic, "en", generic)
    assert names_other_programme("and the newborn one?", newborn, topic, "en", generic)


def test_aspect_and_generic_words_name_no_programme() -> None:
    generic = generic_title_words(TITLES, most=3)
    topic = "burial allowance"
    # "documents", "apply", "mail" ask about the topic's own form or deadline, not about another page's programme
    assert not names_other_programme("what documents do i need to send?", "Documents you need", topic, "en", generic)
    assert not names_other_programme("can i apply by mail?", "Apply by mail", topic, "en", generic)
    assert not names_other_programme("how much is the allowance?", "Caregiver Allowance", topic, "en", generic)


@pytest.mark.parametrize(
    "text",
    [
        "Can you tell me why my household essentials allowance was denied?",
        "why my case was closed",
        "why was my grant reduced",
    ],
)
def test_why_my_own_case_went_a_way_is_a_personal_account_request(text: str) -> None:
    assert is_personal_account(text)


@pytest.mark.parametrize(
    "text",
    ["why would an application be denied?", "What can I do if my application was denied?", "how do I appeal"],
)
def test_general_questions_about_denials_are_answered(text: str) -> None:
    assert not is_personal_account(text)
