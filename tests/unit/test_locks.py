"""The services' install carries no benchmark-only dependency, and the three locks agree.

``requirements.lock``: what the services run on (the Docker image installs it); the bench's plots
(``requirements-bench.lock``) and the LangChain peer (``requirements-peer.lock``) are extras the
bench installs on first use; ``requirements-dev.lock`` is everything the test command installs.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH_ONLY = {"matplotlib", "py-spy", "langchain-core", "langchain-classic", "langchain-postgres"}
DEV_ONLY = {"pytest", "ruff", "mypy", "import-linter", "schemathesis"}


def pins(name: str) -> dict[str, str]:
    found = re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", (ROOT / name).read_text(), re.M)
    return {package.lower(): version for package, version in found}


def test_the_services_install_no_benchmark_or_test_tool() -> None:
    runtime = pins("requirements.lock")
    assert not (BENCH_ONLY | DEV_ONLY) & set(runtime), sorted((BENCH_ONLY | DEV_ONLY) & set(runtime))
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.split(r"[<>=\[ ]", d)[0].lower() for d in declared}
    assert not BENCH_ONLY & names, sorted(BENCH_ONLY & names)


def test_the_locks_agree() -> None:
    runtime, bench, dev = pins("requirements.lock"), pins("requirements-bench.lock"), pins(
        "requirements-dev.lock")
    assert "matplotlib" in bench and not set(bench) & set(runtime)
    disagree = {p: (v, dev.get(p)) for p, v in (runtime | bench).items() if dev.get(p) != v}
    assert disagree == {}, f"pinned differently in requirements-dev.lock: {disagree}"


def test_a_missing_extra_is_installed_or_named(tmp_path: Path) -> None:
    import pytest

    from benchmarks import extras

    extras.ensure(("bench", ROOT / "requirements-bench.lock", ("json",)))  # present: nothing done
    with pytest.raises(SystemExit, match="uv pip install --no-deps .* -r absent.lock"):
        extras.ensure(("bench", tmp_path / "absent.lock", ("no_such_module_here",)))
