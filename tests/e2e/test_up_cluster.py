"""`semsearch up --weaviate-nodes 3`: a replicated cluster that serves, and that `status --json`
and `reconcile` see node by node."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import psutil

from operations.stack.datafolder import holder
from tests.e2e import up_process
from tests.e2e.up_process import ROOT, clean_env


def operator(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "semsearch.cli", *args, "--data-dir",
                           str(folder)], cwd=ROOT, env=clean_env(), capture_output=True,
                          text=True, timeout=300)


def test_up_with_three_weaviate_nodes(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    up = up_process.start(folder, tmp_path / "logs", "--weaviate-nodes", "3", store="weaviate",
                          env=clean_env(ENCODER="hashing", QUERY_API_WORKERS="1"))
    try:
        nodes = holder(folder)["weaviate_nodes"]
        assert [n["name"] for n in nodes] == [f"semsearch-node{i}" for i in range(3)]  # type: ignore[index]
        written = httpx.post(f"{up.command_url}/v1/documents", timeout=30, json={
            "title": "Glacier", "body": "Ice moves slowly down the valley."}).json()
        found = httpx.post(f"{up.query_url}/v1/search", timeout=60, json={
            "query": "glacier ice", "token": written["token"], "wait_ms": 30_000}).json()
        assert found["store"] == "weaviate" and found["hits"][0]["id"] == written["id"]

        status = operator(folder, "status", "--json")
        assert status.returncode == 0, status.stdout + status.stderr
        listed = json.loads(status.stdout)["weaviate_nodes"]
        assert [n["url"] for n in listed] == [n["url"] for n in nodes]  # type: ignore[union-attr]
        for node in listed:
            assert node["ready"] is True and node["objects"] == 1, node
            assert "weaviate-server" in " ".join(psutil.Process(node["pid"]).cmdline())

        checked = operator(folder, "reconcile", "--store", "weaviate")
        assert checked.returncode == 0, checked.stdout + checked.stderr
        per_node = [line for line in checked.stdout.splitlines() if line.startswith("  node ")]
        assert len(per_node) == 3 and all("checked=1 missing=0 stale=0" in line
                                          for line in per_node), checked.stdout
    finally:
        assert up_process.stop(up) == 0
