"""How well search ranks (``semsearch bench relevance``): nDCG@10, Recall@10 and MRR@10 of the
query API per mode on labelled sets (:mod:`.evaluate`), each store's ANN recall against an exact
search over the passages it holds (:mod:`.exact`), and whether Weaviate and pgvector agree on the
same vectors (:mod:`.agreement`, ``semsearch agreement``). :mod:`.run` is the subcommand,
:mod:`.report` its output.
"""
