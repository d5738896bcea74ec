"""Local development tokens for the officer API, shaped like Cognito ID tokens.

The signing key is generated once into .local-state/ and never used outside this machine. The local
HTTP front verifies tokens the way API Gateway's JWT authorizer does (signature, issuer, audience,
expiry) and passes the claims on.
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tipline_local.template import ROOT

STATE_DIR = ROOT / ".local-state"
KEY_PATH = STATE_DIR / "dev-signing-key.pem"
ISSUER = "https://tipline.local/dev-user-pool"
AUDIENCE = "tipline-local-officer-api"
ROLES = ("officer", "commander")


class InvalidToken(Exception):
    """A token the JWT authorizer would refuse (API Gateway answers 401)."""


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def signing_key(path: Path = KEY_PATH) -> rsa.RSAPrivateKey:
    """The development key, created on first use. Two processes creating it at once agree on one:
    each writes a private temporary file and links it into place only if no key is there yet."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = new_key().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".key-")
        try:
            os.fchmod(descriptor, 0o600)
            os.write(descriptor, pem)
            os.close(descriptor)
            with contextlib.suppress(FileExistsError):  # another process was first: theirs counts
                os.link(temporary, path)
        finally:
            os.unlink(temporary)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise InvalidToken("the local signing key is not an RSA key")
    return key


@functools.cache
def _public_key(path: Path) -> rsa.RSAPublicKey:
    return signing_key(path).public_key()


def issue_token(
    unit_id: str,
    role: str,
    subject: str = "officer-1",
    expires_in: int = 3600,
    key: rsa.RSAPrivateKey | None = None,
) -> str:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    now = int(time.time())
    claims = {
        "sub": subject,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "token_use": "id",
        "iat": now,
        "exp": now + expires_in,
        "cognito:groups": [role],
        "cognito:username": subject,
        "custom:unit_id": unit_id,
    }
    return jwt.encode(claims, key or signing_key(), algorithm="RS256")


def verify(token: str, path: Path = KEY_PATH) -> dict[str, Any]:
    """The token's claims if the local JWT authorizer accepts it (signature by the development key,
    issuer, audience, expiry, not-before), else InvalidToken with the reason."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            _public_key(path),
            algorithms=["RS256"],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from exc
    return claims
