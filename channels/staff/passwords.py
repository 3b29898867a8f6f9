"""Staff passwords: argon2id hashes (argon2-cffi, RFC 9106 low-memory profile) and what a password must be."""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 12
MAX_LENGTH = 1024  # hashing is slow on purpose; a megabyte "password" should not cost more than a long one


@lru_cache(maxsize=1)
def _hasher() -> PasswordHasher:
    return PasswordHasher()  # argon2id, t=3, m=64 MiB, p=4


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash of nothing anyone types, checked for unknown emails so they take as long as known ones."""
    return _hasher().hash("no account has this password: it only spends the same time")


def hash_password(password: str) -> str:
    """The argon2id hash to store (PHC string: parameters, salt and hash)."""
    return _hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when `password` matches the stored hash. Never raises for a wrong or malformed one."""
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def spend_verify_time(password: str) -> None:
    """Check `password` against a dummy hash: an unknown email costs what a known one does."""
    verify_password(_dummy_hash(), password)


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with older parameters than today's (re-hash it at the next sign-in)."""
    try:
        return _hasher().check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


def password_problem(password: str, email: str = "") -> str | None:
    """What is wrong with `password` as a staff password, in a sentence saying what is needed; None if fine."""
    if len(password) < MIN_LENGTH:
        return (
            f"the password is {len(password)} characters; use at least {MIN_LENGTH} "
            "(a few unrelated words make a long one that is easy to type)"
        )
    if len(password) > MAX_LENGTH:
        return f"the password is longer than {MAX_LENGTH} characters; use a shorter one"
    if len(set(password)) < 4:
        return "the password repeats too few different characters; use at least 4 different ones"
    lowered = password.lower()
    local = email.strip().lower().partition("@")[0]
    if email and (lowered == email.strip().lower() or (len(local) >= 4 and local in lowered)):
        return "the password contains the email address; choose one that does not"
    return None
