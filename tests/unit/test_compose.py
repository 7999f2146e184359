"""compose.yaml stays true to the code: pinned images, health checks, real setting names."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from command_side.settings import CommandSettings
from query_side.settings import QuerySettings
from sync_worker.settings import WorkerSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
SETTINGS = {name.upper() for cls in (CommandSettings, QuerySettings, WorkerSettings)
            for name in cls.model_fields}


def test_every_service_is_there_with_a_health_check() -> None:
    services = COMPOSE["services"]
    assert set(services) >= {"postgres", "redis", "weaviate", "command-api", "query-api",
                             "relay", "worker"}
    for name, service in services.items():
        if name != "migrate":
            assert "healthcheck" in service, name


def test_images_are_pinned() -> None:
    for name, service in COMPOSE["services"].items():
        image = service.get("image", "")
        tag = image.rsplit(":", 1)[-1] if ":" in image else ""
        assert tag and tag != "latest", f"{name}: {image!r} is not pinned"


def test_environment_uses_the_settings_names() -> None:
    for name, service in COMPOSE["services"].items():
        if "build" not in service:
            continue
        unknown = set(service.get("environment", {})) - SETTINGS
        assert unknown == set(), f"{name}: {unknown} are not settings"


@pytest.mark.skipif(shutil.which("docker") is None, reason="no docker client on this machine")
def test_docker_compose_config_accepts_it() -> None:
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip("the docker client here has no compose plugin")
    subprocess.run(["docker", "compose", "-f", str(ROOT / "compose.yaml"), "config", "-q"],
                   check=True)


def test_the_apis_refuse_to_start_without_keys() -> None:
    """Compose refuses to start (the `:?` form) without ADMIN_KEYS; nothing opens the APIs."""
    for name in ("command-api", "query-api"):
        env = COMPOSE["services"][name]["environment"]
        assert env["ADMIN_KEYS"].startswith("${ADMIN_KEYS:?"), name
        assert "AUTH" not in env, name
