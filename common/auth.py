"""API keys with scopes, shared by both APIs.

Keys are named: ``ADMIN_KEYS`` and ``READ_KEYS`` hold comma-separated ``name:secret`` pairs (or
``ADMIN_KEYS_FILE`` / ``READ_KEYS_FILE`` name files holding them, one per line or comma-separated,
for secrets mounted as files). ``admin`` keys write (command API) and read; ``read`` keys search
and read documents (query API). A key is sent as ``X-API-Key: <secret>`` or ``Authorization:
Bearer <secret>``; secrets are compared in constant time (SHA-256 digests, every key compared).
No key or an unknown one: 401; a key without the route's scope: 403; both with
``WWW-Authenticate``. ``AUTH=off`` opens the API (no key needed), on a loopback bind only.

AuthError
├── Unauthorized    401
└── Forbidden       403
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from common.config import CommaList

Scope = Literal["admin", "read"]
OPEN_SCOPES = frozenset({"admin", "read"})
MIN_SECRET = 16
NAME = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
REALM = 'Bearer realm="semsearch"'


class AuthError(Exception):
    status_code = 401

    def __init__(self, detail: str, challenge: str = REALM) -> None:
        super().__init__(detail)
        self.headers = {"WWW-Authenticate": challenge}


class Unauthorized(AuthError):
    status_code = 401


class Forbidden(AuthError):
    status_code = 403


@dataclass(frozen=True)
class Principal:
    """Who is calling: a key's name and scopes, or the client address when auth is off."""

    name: str
    scopes: frozenset[str]
    client: str


class AuthSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    auth: Literal["on", "off"] = "on"
    """``off``: no key needed (loopback binds only; `semsearch up` and the demo default to it)."""
    admin_keys: CommaList = Field(default_factory=list, repr=False)
    """``name:secret`` pairs whose keys write and read."""
    admin_keys_file: Path | None = None
    read_keys: CommaList = Field(default_factory=list, repr=False)
    """``name:secret`` pairs whose keys only read (search, document reads)."""
    read_keys_file: Path | None = None

    @model_validator(mode="after")
    def _keys_are_sound(self) -> AuthSettings:
        keys(self, required=False)  # refuses short secrets, bad or repeated names
        return self


@dataclass(frozen=True)
class _Key:
    name: str
    digest: bytes
    scopes: frozenset[str]


def _entries(listed: list[str], file: Path | None, setting: str) -> list[str]:
    found = list(listed)
    if file is not None:
        try:
            text = file.read_text()
        except OSError as exc:
            raise ValueError(f"{setting}_FILE: cannot read {file}: {exc}") from exc
        found += [part.strip() for part in re.split(r"[,\n]", text) if part.strip()]
    return found


def keys(settings: AuthSettings, required: bool) -> list[_Key]:
    """Every configured key; raises ValueError naming the setting when one is unsound, or when
    keys are ``required`` (an API about to serve with AUTH=on) and there are none."""
    out: list[_Key] = []
    for setting, listed, file, scopes in (
            ("ADMIN_KEYS", settings.admin_keys, settings.admin_keys_file, {"admin", "read"}),
            ("READ_KEYS", settings.read_keys, settings.read_keys_file, {"read"})):
        for entry in _entries(listed, file, setting):
            name, sep, secret = entry.partition(":")
            if not sep or not NAME.fullmatch(name):
                raise ValueError(f"{setting}: each key is name:secret with a name of letters, "
                                 f"digits and _.@- (got an entry named {name[:64]!r})")
            if len(secret) < MIN_SECRET:
                raise ValueError(f"{setting}: the secret of key {name!r} is shorter than "
                                 f"{MIN_SECRET} characters")
            out.append(_Key(name, hashlib.sha256(secret.encode()).digest(), frozenset(scopes)))
    names = [k.name for k in out]
    if len(set(names)) != len(names):
        raise ValueError("ADMIN_KEYS/READ_KEYS: a key name is used twice")
    if required and settings.auth == "on" and not out:
        raise ValueError("no API keys: set ADMIN_KEYS and READ_KEYS (name:secret,…) or "
                         "ADMIN_KEYS_FILE/READ_KEYS_FILE; or AUTH=off for an open API "
                         "(loopback only)")
    return out


def check_serving(settings: AuthSettings, host: str) -> str:
    """Before an API listens on ``host``: refuse to start without keys (unless AUTH=off) and
    open beyond loopback; returns the line to print about auth."""
    try:
        found = keys(settings, required=True)
    except ValueError as exc:
        raise SystemExit(f"refusing to start: {exc}") from None
    if settings.auth == "off":
        if not is_loopback(host):
            raise SystemExit(f"refusing to start: AUTH=off on {host}: an open API may listen on "
                             "loopback only; set ADMIN_KEYS and READ_KEYS (or their _FILE forms)")
        return f"auth: off (AUTH=off, loopback {host} only): no key needed"
    return f"auth: on, {len(found)} key(s) (ADMIN_KEYS/READ_KEYS)"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Keys:
    """The key table of one app: who a presented secret is, and what it may do."""

    def __init__(self, settings: AuthSettings) -> None:
        self.open = settings.auth == "off"
        self._keys = keys(settings, required=True)

    def identify(self, secret: str | None, client: str) -> Principal:
        if self.open:
            return Principal("anonymous", OPEN_SCOPES, client)
        if not secret:
            raise Unauthorized("an API key is needed: send X-API-Key or Authorization: Bearer")
        digest = hashlib.sha256(secret.encode()).digest()
        found = None
        for key in self._keys:  # every key, no early exit: the time does not tell which matched
            if hmac.compare_digest(digest, key.digest):
                found = key
        if found is None:
            raise Unauthorized("this API key is not known", f'{REALM}, error="invalid_token"')
        return Principal(found.name, found.scopes, client)


SECURITY_SCHEMES = {
    "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    "Bearer": {"type": "http", "scheme": "bearer"},
}
SECURITY: list[dict[str, list[str]]] = [{"ApiKey": []}, {"Bearer": []}]
"""What a guarded route shows in the schema: either scheme (``common.problems.publish``
adds the schemes; FastAPI's own security dependencies would cost two dependencies a request)."""


def presented_secrets(headers: list[tuple[bytes, bytes]]) -> list[str]:
    """Every secret a request presents (its raw ASGI headers): X-API-Key, and the Authorization
    header's Bearer token; each must be valid (an Authorization of another scheme presents an
    invalid one)."""
    found = []
    for name, value in headers:
        if name == b"x-api-key":
            found.append(value.decode("latin-1"))
        elif name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            found.append(token.strip() if scheme.lower() == "bearer" else "")
    return found


def principal(scope: MutableMapping[str, Any], needed: Scope) -> Principal:
    """The caller of the request with ASGI ``scope``, refused unless every secret it presents is
    known and one holds ``needed``; anyone, when auth is off. Kept in the request's state (for
    the audit and the rate limit)."""
    table: Keys = scope["app"].state.keys
    client = scope["client"][0] if scope.get("client") else "-"
    if table.open:
        found = Principal("anonymous", OPEN_SCOPES, client)
    else:
        presented: list[str | None] = [*presented_secrets(scope["headers"])] or [None]
        found = [table.identify(secret, client) for secret in presented][0]
    scope.setdefault("state", {})["principal"] = found
    if needed not in found.scopes:
        raise Forbidden(f"key {found.name!r} may not {needed}: this route needs the {needed} "
                        f"scope", f'{REALM}, error="insufficient_scope", scope="{needed}"')
    return found
