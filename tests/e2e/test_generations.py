"""Index generations against `semsearch up` as real processes: the query API over HTTP (two
worker processes, each following the pointer), the worker, and `semsearch index` run as operator
commands, from the torch model to the ONNX int8 model and back, under search load."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx

from embeddings.onnx import ONNX_INT8_MODEL
from operations import corpus
from tests.e2e.up_process import clean_env, operator, start, stop, wait_drained

TORCH_MODEL = "all-MiniLM-L6-v2"


def search(client: httpx.Client, query: str) -> tuple[int, int | None, str | None]:
    reply = client.post("/v1/search", json={"query": query, "limit": 5})
    body = reply.json() if reply.status_code == 200 else {}
    return reply.status_code, body.get("generation"), body.get("model_id")


def wait_for(url: str, wanted: tuple[int, str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=url, timeout=30) as client:
        while (found := search(client, "the history of the moon"))[1:] != wanted:
            assert time.monotonic() < deadline, found
            time.sleep(0.2)


def test_torch_to_onnx_and_back_through_the_running_stack(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    up = start(folder, tmp_path / "logs", store="pgvector",
               env=clean_env(QUERY_API_WORKERS="2", ENCODER="sentence-transformers"))
    answers: list[tuple[int, int | None, str | None]] = []
    stopping = threading.Event()
    queries = [p.text.split(".")[0][:100] for p in corpus.paragraphs(20)]

    def load() -> None:
        with httpx.Client(base_url=up.query_url, timeout=30) as client:
            n = 0
            while not stopping.is_set():
                answers.append(search(client, queries[n % len(queries)]))
                n += 1

    threads = [threading.Thread(target=load) for _ in range(2)]
    try:
        with httpx.Client(base_url=up.command_url, timeout=30) as client:
            for paragraph in corpus.paragraphs(20):
                assert client.post("/v1/documents", json=paragraph.document()).status_code == 201
        wait_drained(folder, 300, up.log)
        for thread in threads:
            thread.start()
        built = operator("index", "build", "--encoder", "onnx", folder=folder, timeout=600)
        assert built.returncode == 0, built.stdout + built.stderr
        promoted = operator("index", "promote", "2", "--articles", "1", "--tolerance", "0.02",
                            folder=folder, timeout=600)
        assert promoted.returncode == 0, promoted.stdout + promoted.stderr
        assert "nDCG@10" in promoted.stdout
        wait_for(up.query_url, (2, ONNX_INT8_MODEL))
        rolled = operator("index", "rollback", folder=folder)
        assert rolled.returncode == 0, rolled.stdout + rolled.stderr
        wait_for(up.query_url, (1, TORCH_MODEL))
        shown = operator("index", "status", folder=folder).stdout
        assert "serving: g1; rollback to g2" in shown, shown
    finally:
        stopping.set()
        for thread in threads:
            thread.join(timeout=60)
        stop(up)
    assert [a for a in answers if a[0] != 200] == []
    assert {a[1:] for a in answers} == {(1, TORCH_MODEL), (2, ONNX_INT8_MODEL)}
