"""Staff passwords: argon2id hashes, what a weak password is told, and the dummy check for unknown emails."""

from __future__ import annotations

import time

from argon2 import PasswordHasher

from channels.staff.passwords import (
    hash_password,
    needs_rehash,
    password_problem,
    spend_verify_time,
    verify_password,
)


def test_hashes_are_argon2id_salted_and_verify_only_the_right_password() -> None:
    first, second = hash_password("correct horse battery staple"), hash_password("correct horse battery staple")
    assert first.startswith("$argon2id$v=19$") and first != second  # a fresh salt each time
    assert verify_password(first, "correct horse battery staple")
    assert not verify_password(first, "correct horse battery stapler")
    assert not verify_password("not a hash", "correct horse battery staple")
    assert not needs_rehash(first)


def test_a_hash_with_weaker_parameters_is_rehashed() -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("correct horse battery staple")
    assert verify_password(weak, "correct horse battery staple")
    assert needs_rehash(weak)


def test_weak_passwords_are_told_what_is_needed() -> None:
    short = password_problem("short pass")
    assert short is not None and "at least 12" in short and "10 characters" in short
    repeated = password_problem("aaaaaaaaaaaaaaaa")
    assert repeated is not None and "different" in repeated
    with_email = password_problem("reviewer-2026-spring!", "reviewer@agency.example")
    assert with_email is not None and "email" in with_email
    assert password_problem("x" * 2000 + "abcd") is not None
    assert password_problem("correct horse battery staple", "reviewer@agency.example") is None


def test_an_unknown_email_costs_as_long_as_a_known_one() -> None:
    stored = hash_password("correct horse battery staple")
    spend_verify_time("warm-up")  # the dummy hash is made once, on first use

    def best_of_three(check: object) -> float:
        times = []
        for _ in range(3):
            start = time.perf_counter()
            check()  # type: ignore[operator]
            times.append(time.perf_counter() - start)
        return min(times)

    known = best_of_three(lambda: verify_password(stored, "a wrong password here"))
    unknown = best_of_three(lambda: spend_verify_time("a wrong password here"))
    assert unknown > known * 0.5 and unknown < known * 2, (known, unknown)
