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
_PAIR = re.compile(r"\.([0-9a-f]{32})-([0-9]{1,9})")


class BadToken(ValueError):
    pass


def encode(written: list[tuple[uuid.UUID, int]]) -> str:
    return PREFIX + "".join(f".{doc_id.hex}-{version}" for doc_id, version in written)


def decode(token: str) -> list[tuple[uuid.UUID, int]]:
    if not re.fullmatch(PATTERN, token):
        raise BadToken("a consistency token looks like c2.<32 hex digits>-<version>… "
                       "(copy it unchanged from a command response)")
    return [(uuid.UUID(hex=doc_id), int(version)) for doc_id, version in _PAIR.findall(token)]
