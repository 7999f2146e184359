"""semsearch against a peer (``semsearch bench peer``): LangChain's indexing API over
langchain-postgres (:mod:`.langchain`, installed on first use) on the same texts, model and
PostgreSQL, measured in turn on the same slices: documents/s to searchable, the cost of revising
documents, and each side's raw encoder on its own texts. :mod:`.run` is the subcommand,
:mod:`.report` its output.
"""
