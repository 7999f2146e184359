"""Consistency tokens: the one piece of the contract both sides need.

A token names what a client wrote, as (document id, version) pairs. The command side mints it;
the query side answers a search that carries it only once the serving store has applied each of
those versions, or a later one. Opaque to clients, and exactly described by ``PATTERN`` (which
the query API publishes): ``c2`` then ``.<id as 32 hex digits>-<version>`` per document, so any
string the pattern allows is a token. (The first format, ``c1.`` + base64url(zlib(JSON)), could
not be described so: a schema-valid string could still be refused. Tokens live seconds.)
"""

import re
import uuid

PREFIX = "c2"
PATTERN = r"^c2(\.[0-9a-f]{32}-[0-9]{1,9})+$"
MAX_WRITES = 1000
"""The most documents one token names: the command API's largest bulk import (a token names
what one request wrote). A search that waits re-checks them, so the query side refuses more."""
MAX_LENGTH = len(PREFIX) + MAX_WRITES * len(".0123456789abcdef0123456789abcdef-123456789")
"""The longest token of ``MAX_WRITES`` documents (each ``.<32 hex>-<up to 9 digits>``)."""
_PAIR = re.compile(r"\.([0-9a-f]{32})-([0-9]{1,9})")


class BadToken(ValueError):
    pass


def encode(written: list[tuple[uuid.UUID, int]]) -> str:
    return PREFIX + "".join(f".{doc_id.hex}-{version}" for doc_id, version in written)


def decode(token: str) -> list[tuple[uuid.UUID, int]]:
    if not re.fullmatch(PATTERN, token):
        raise BadToken("a consistency token looks like c2.<32 hex digits>-<version>… "
                       "(copy it unchanged from a command response)")
    pairs = _PAIR.findall(token)
    if len(pairs) > MAX_WRITES:
        raise BadToken(f"names {len(pairs)} documents; a token names at most {MAX_WRITES} "
                       "(the largest bulk import)")
    return [(uuid.UUID(hex=doc_id), int(version)) for doc_id, version in pairs]
