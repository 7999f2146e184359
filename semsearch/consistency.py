"""Consistency tokens: the one piece of the contract both sides need.

A token names what a client wrote, as (document id, version) pairs. The command side mints it;
the query side answers a search that carries it only once the serving store has applied each of
those versions, or a later one. Opaque to clients: ``c1.`` + base64url(zlib(JSON)).
"""

import base64
import json
import uuid
import zlib

PREFIX = "c1."


class BadToken(ValueError):
    pass


def encode(written: list[tuple[uuid.UUID, int]]) -> str:
    payload = json.dumps([[doc_id.hex, version] for doc_id, version in written])
    packed = zlib.compress(payload.encode(), level=6)
    return PREFIX + base64.urlsafe_b64encode(packed).decode().rstrip("=")


def decode(token: str) -> list[tuple[uuid.UUID, int]]:
    if not token.startswith(PREFIX):
        raise BadToken("consistency token must start with 'c1.' (copy it from a command response)")
    body = token[len(PREFIX) :]
    try:
        raw = zlib.decompress(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        pairs = json.loads(raw)
        return [(uuid.UUID(hex=doc_id), int(version)) for doc_id, version in pairs]
    except (ValueError, TypeError, zlib.error) as exc:
        raise BadToken("consistency token is damaged: copy it unchanged from a command response") from exc
