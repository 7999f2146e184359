"""The command side stays light: no torch, embeddings, worker or vector-store client."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN_FOR_COMMAND = {"torch", "embeddings", "sync_worker", "query_side", "weaviate",
                         "pgvector", "sentence_transformers", "transformers", "numpy"}
FORBIDDEN_FOR_QUERY = {"command_side", "sync_worker"}


def imported_roots(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                found.setdefault(name.split(".")[0], set()).add(str(path.relative_to(ROOT)))
    return found


def test_command_side_source_never_imports_heavy_or_read_side_modules() -> None:
    bad = {name: files for name, files in imported_roots("command_side").items()
           if name in FORBIDDEN_FOR_COMMAND}
    assert bad == {}


def test_query_side_source_never_imports_the_write_side() -> None:
    bad = {name: files for name, files in imported_roots("query_side").items()
           if name in FORBIDDEN_FOR_QUERY}
    assert bad == {}


def test_command_process_loads_no_heavy_module_at_run_time() -> None:
    """Import what the command API and relay processes import, and look at sys.modules."""
    code = (
        "import json, sys\n"
        "import command_side.api, command_side.relay, command_side.migrate\n"
        "command_side.api.create_app()\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         check=True, env={**os.environ, "AUTH": "off"})  # (no keys needed)
    loaded = set(json.loads(out.stdout))
    assert loaded & FORBIDDEN_FOR_COMMAND == set()


def test_the_boundary_check_would_catch_a_violation(tmp_path: Path) -> None:
    """The AST scan is not vacuous: a planted import is found."""
    planted = ROOT / "command_side" / "_planted_for_test.py"
    planted.write_text("import torch\n")
    try:
        assert "torch" in imported_roots("command_side")
    finally:
        planted.unlink()
