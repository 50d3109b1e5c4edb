"""People's passwords: scrypt (RFC 7914) with a random salt, stored as one text field.

Format: "scrypt$n$r$p$salt_b64$hash_b64". The cost parameters travel with the hash, so
raising them later leaves the old hashes verifiable. n=2**14, r=8, p=1 takes 16 MiB and
tens of milliseconds per try: slow for a guesser, fine for one login.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SCHEME = "scrypt"
N, R, P = 2**14, 8, 1
SALT_BYTES = 16
HASH_BYTES = 32
MIN_LENGTH = 8
MAX_LENGTH = 1024  # a longer "password" is a mistake or an attack, not a secret


class BadPasswordError(ValueError):
    """A password that breaks the rules (too short, too long)."""


def check_password_rules(password: str) -> None:
    """Raise BadPasswordError saying what is wrong with a new password."""
    if len(password) < MIN_LENGTH:
        raise BadPasswordError(
            f"a password needs at least {MIN_LENGTH} characters (this one has {len(password)})"
        )
    if len(password) > MAX_LENGTH:
        raise BadPasswordError(f"a password has at most {MAX_LENGTH} characters")


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    # maxmem: scrypt needs 128 * n * r bytes; OpenSSL's default cap (32 MiB) would refuse
    # the larger costs a stored hash may carry
    return hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, dklen=HASH_BYTES, maxmem=256 * n * r + 2**20
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str) -> str:
    """The stored form of a new password (checked against the rules first)."""
    check_password_rules(password)
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(password, salt, N, R, P)
    return f"{SCHEME}${N}${R}${P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """True when `password` is the one `stored` was made from; False for a malformed
    stored value too (it can never match)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != SCHEME:
            return False
        expected = base64.b64decode(digest, validate=True)
        got = _scrypt(password, base64.b64decode(salt, validate=True), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(got, expected)


# Verified against when the name is unknown, so that an unknown name costs as long as a
# wrong password and the answer's timing does not tell which names exist.
_DUMMY = f"{SCHEME}${N}${R}${P}${_b64(bytes(SALT_BYTES))}${_b64(bytes(HASH_BYTES))}"


def spend_like_a_verify(password: str) -> None:
    verify_password(password, _DUMMY)
