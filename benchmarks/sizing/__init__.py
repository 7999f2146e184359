"""What one document, passage and vector costs (``semsearch bench sizing``, for docs/scaling.md):
bytes on disk and in memory per store (:mod:`.stores`: pgvector tables and HNSW index, Weaviate's
data folder and resident memory), the embedding cache and write model per row, the outbox and
Redis per change, and how fast each part of the pipeline takes records in. :mod:`.run` is the
subcommand, :mod:`.report` its output.
"""
