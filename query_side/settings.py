"""Settings of the query API, and the store settings the worker shares."""

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from common.auth import AuthSettings
from common.config import CommaList
from common.ratelimit import RateLimitSettings
from embeddings.encoder import DEFAULT_ENCODER
from embeddings.passages import DEFAULT_OVERLAP, DEFAULT_TOKENS, MODEL_WINDOW, PassageSettings

DEFAULT_READ_DATABASE_URL = "postgresql+psycopg://semsearch@127.0.0.1:5432/semsearch_read"
Consistency = Literal["ONE", "QUORUM", "ALL"]


def _ports(value: object) -> object:
    if isinstance(value, int):
        return [value]
    if isinstance(value, str) and not value.startswith("["):
        return [int(part) for part in value.split(",") if part.strip()]
    return value


PortList = Annotated[list[int], NoDecode, BeforeValidator(_ports)]
"""One port, or ports written ``a,b,c`` (JSON ``[a, b, c]`` works too)."""


class StoreSettings(BaseSettings):
    """Where the read stores live. Both the worker and the query API read these."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    read_database_url: str = DEFAULT_READ_DATABASE_URL
    pgvector_table: str = Field(default="read_documents", pattern=r"^[a-z_][a-z0-9_]{0,40}$")
    weaviate_url: str | None = None
    """e.g. http://127.0.0.1:8080; unset means no Weaviate. A cluster: every node's URL,
    comma-separated; the store talks to one node and moves to the next when it fails."""
    weaviate_grpc_port: PortList = Field(default_factory=lambda: [50051])
    """One gRPC port for every node, or one per URL of ``WEAVIATE_URL``, in its order."""
    weaviate_replication_factor: int = Field(default=1, ge=1)
    """Copies of every object a collection made by this process keeps (``semsearch up
    --weaviate-nodes N`` sets N); async replication is on above 1, so a node that was down
    catches up from the others."""
    weaviate_write_consistency: Consistency = "QUORUM"
    """Replicas that must confirm a write: QUORUM survives one dead node of three."""
    weaviate_read_consistency: Consistency = "QUORUM"
    """Replicas a read asks. QUORUM, not ONE: with QUORUM writes every read overlaps the last
    write's replicas, so a search that waited for a consistency token, and the worker's check of
    stored versions, never read a replica that missed the write (ONE would be faster by a
    replica's round trip, and could answer from a node that was down and has not caught up yet).
    With two of three nodes gone a QUORUM read fails, and the router moves to pgvector."""
    weaviate_collection: str = Field(default="Document", pattern=r"^[A-Z][A-Za-z0-9_]{0,60}$")
    encoder: Literal["sentence-transformers", "onnx", "onnx-fp32", "hashing"] = DEFAULT_ENCODER
    """``onnx-fp32`` (the default): the packaged all-MiniLM-L6-v2 exported to ONNX, fp32, on ONNX
    Runtime: the torch model's vectors (lowest cosine 0.9999999 on 400 paragraphs) at 1.4x its
    speed and a quarter of its memory, no torch in the process
    (docs/benchmarks/2026-12-06-encoder-onnx-fp32); ``sentence-transformers``: the same model on
    torch, the one that runs on a GPU (DEVICE); ``onnx``: the export quantized to int8 (faster,
    slightly lower quality); ``hashing`` is a deterministic stand-in for tests only, never for
    real search."""
    passage_tokens: int = Field(default=DEFAULT_TOKENS, ge=32, le=MODEL_WINDOW - 2)
    """Largest passage in model tokens (the title counts against it too)."""
    passage_overlap: int = Field(default=DEFAULT_OVERLAP, ge=0, le=5)
    """Sentences repeated at the start of the next passage."""
    passage_title: bool = True
    """Embed the title with every passage (`semsearch bench relevance --passages on,notitle`
    compares)."""
    passages: bool = True
    """False: one vector per document, its text cut at the model's window (the old read model)."""
    encoder_threads: int = Field(default=0, ge=0)
    """ONNX encoder: concurrent single-threaded calls per process; 0: one per CPU (a query API
    with several worker processes gives each its share of the CPUs)."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """Where the torch encoder runs: ``auto`` takes a CUDA GPU when torch sees one, else the
    CPU; ``cuda`` refuses to start without one. The ONNX encoder always runs on the CPU."""
    encoder_fp16: bool = False
    """On a GPU, fp16 weights (half the memory, faster); not measured here for quality (no GPU
    on the machines this project is tested on), so off by default."""
    failpoints: CommaList = Field(default_factory=list)
    """Test-only crash points (common.failpoints); empty in production."""

    def weaviate_nodes(self) -> list[tuple[str, int]]:
        """(URL, gRPC port) of each node of ``WEAVIATE_URL``."""
        urls = [u.strip() for u in (self.weaviate_url or "").split(",") if u.strip()]
        ports = self.weaviate_grpc_port
        if len(ports) not in (1, len(urls)):
            raise ValueError(f"WEAVIATE_GRPC_PORT lists {len(ports)} ports for {len(urls)} "
                             "WEAVIATE_URL nodes: give one, or one per node")
        return [(url, ports[i] if len(ports) > 1 else ports[0]) for i, url in enumerate(urls)]

    def passage_settings(self) -> PassageSettings:
        return PassageSettings(tokens=self.passage_tokens, overlap=self.passage_overlap,
                               title=self.passage_title, enabled=self.passages)


class QuerySettings(StoreSettings, AuthSettings, RateLimitSettings):
    store: Literal["auto", "pgvector", "weaviate"] = "auto"
    """auto: Weaviate while it is healthy and not too far behind, else pgvector."""
    max_lag_seconds: float = Field(default=30.0, ge=0)
    """Weaviate serves only while its oldest unapplied change is younger than this."""
    max_stuck_documents: int = Field(default=10, ge=0)
    """Weaviate serves only while at most this many documents are stuck on it (the worker failed
    to apply their newest version; dead letters included): one poison document never moves
    serving, a store that refuses writes does."""
    consistency_wait_seconds: float = Field(default=5.0, ge=0, le=60)
    """How long a search carrying a consistency token waits for the read model by default."""
    max_wait_seconds: float = Field(default=60.0, ge=0, le=60)
    """The longest any such search waits, whatever its ``wait_ms`` asks."""
    token_waits: int = Field(default=128, ge=0, le=100_000)
    """Searches and document reads one process lets wait for a consistency token at a time;
    the next is refused at once with 503 and Retry-After (a wait holds no thread, only memory
    and a look at the read model per change heard)."""
    token_waits_per_caller: int = Field(default=32, ge=0, le=100_000)
    """Of those, how many one caller (API key; client address when auth is off) may hold; its
    next is refused at once with 429 and Retry-After."""
    token_recheck_seconds: float = Field(default=1.0, gt=0, le=60)
    """A waiting token is looked at again when a store change is heard, and at least this often
    (a safety net: every change heard wakes it at once)."""
    health_cache_seconds: float = Field(default=1.0, ge=0)
    store_timeout_seconds: float = Field(default=1.0, gt=0, le=60)
    """Longest a store may take for a health check or a search before the next store answers."""
    query_cache_size: int = Field(default=4096, ge=0)
    """Query embeddings kept in memory (LRU); 0 turns the cache off."""
    result_cache_size: int = Field(default=4096, ge=0)
    """Token-less search results kept per store until that store changes (LRU); 0: off."""
    max_offset: int = 1000
    query_api_workers: int = Field(default=0, ge=0, le=64)
    """Worker processes of the query API, each with its own event loop, encoder and caches;
    0: one per CPU. One process's Python (HTTP, validation, the database driver) holds one GIL:
    two processes on 2 cores served ~1.3x the distinct queries of one (dev stack, measured)."""
    search_in_flight: int = Field(default=8, ge=1, le=1024)
    """Searches one query API process embeds and looks up at a time (admission control,
    query_side/admission.py; result-cache hits never wait). Measured on 2 cores (issue 16, and
    `semsearch bench query`'s overload phase): distinct searches peaked at 16 clients over 2
    processes, 8 each; more at a time only lengthens every search (the encoder's batches are
    full and the CPUs busy)."""
    search_queue: int = Field(default=16, ge=0, le=100_000)
    """Searches that may wait for a slot beyond ``search_in_flight`` (fewer when the measured
    pace serves fewer within ``search_queue_seconds``); the next is refused at once with 503
    and Retry-After, at the door, before any middleware runs."""
    search_queue_seconds: float = Field(default=0.2, gt=0, le=60)
    """No more join the line than the pace measured serves within this; whoever joined it is
    served (refusals are decided when a search arrives, so they come back at once, not after
    a wait). 0.2 s: against 0.5 s, about as many searches/s were served at 10x and 30x the best
    concurrency (59-81 against 66-81) with a p50 of ~300 ms instead of ~520 ms (2 loaded cores,
    docs/benchmarks/2026-12-06-overload-pgvector)."""
    search_queue_give_up_seconds: float = Field(default=0.5, gt=0, le=60)
    """A search still without a slot after this (at least ``search_queue_seconds``) is refused
    after all: a safety net for a pace that fell sharply after it joined the line."""
    query_api_backlog: int = Field(default=4096, ge=64, le=65535)
    """Listen backlog: connections the kernel completes before the API accepts them (capped by
    net.core.somaxconn), so a burst of 2,000 connections is queued, not dropped and retried."""
    query_api_keep_alive_seconds: int = Field(default=5, ge=1, le=300)
    """An idle keep-alive connection is closed after this long."""

    @field_validator("weaviate_url")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value or None
