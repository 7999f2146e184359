"""The write side: canonical documents in PostgreSQL, an outbox row per change, and the relay.

Never imports torch, ``embeddings``, ``sync_worker`` or a vector-store client (a test and an
import-linter contract keep it so): jobs are enqueued by dotted path.
"""
