"""compose.yaml stays true to the code: pinned images, health checks, real setting names, valid
against the Compose Specification's JSON schema (vendored: tests/unit/data/README.md), and the
production shape: a 3-node Weaviate cluster, several workers and relays."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import jsonschema_rs
import pytest
import yaml

from command_side.settings import CommandSettings
from operations.stack.weaviate import WEAVIATE_VERSION
from query_side.settings import QuerySettings
from sync_worker.settings import WorkerSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
SCHEMA = Path(__file__).parent / "data" / "compose-spec.json"
SCHEMA_SHA256 = "f266dcbb043229405d7cedd5aec918f9102c2b3d5e3850808fdd8edd564a43ff"
"""compose-go v2.16.2's schema/compose-spec.json, unchanged"""
SETTINGS = {name.upper() for cls in (CommandSettings, QuerySettings, WorkerSettings)
            for name in cls.model_fields}
NODES = ["weaviate-0", "weaviate-1", "weaviate-2"]


def test_every_service_is_there_with_a_health_check() -> None:
    services = COMPOSE["services"]
    assert set(services) >= {"postgres", "redis", *NODES, "command-api", "query-api",
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


def test_it_is_valid_against_the_compose_specification_schema() -> None:
    assert hashlib.sha256(SCHEMA.read_bytes()).hexdigest() == SCHEMA_SHA256
    validator = jsonschema_rs.validator_for(json.loads(SCHEMA.read_text()))
    assert [error.message for error in validator.iter_errors(COMPOSE)] == []
    broken = {**COMPOSE, "services": {**COMPOSE["services"], "worker": {
        **COMPOSE["services"]["worker"], "deploy": {"replica": 3}}}}  # misspelt
    assert not validator.is_valid(broken)  # the schema does check the services


def test_weaviate_runs_as_a_three_node_cluster_with_its_own_volumes() -> None:
    services = COMPOSE["services"]
    assert not {name for name in services if name.startswith("weaviate")} - set(NODES)
    volumes = set()
    for name in NODES:
        node = services[name]
        env = node["environment"]
        assert node["image"] == f"cr.weaviate.io/semitechnologies/weaviate:{WEAVIATE_VERSION}"
        assert env["CLUSTER_HOSTNAME"] == name
        assert env["RAFT_JOIN"].split(",") == NODES and env["RAFT_BOOTSTRAP_EXPECT"] == "3"
        assert env["PERSISTENCE_DATA_PATH"] == "/var/lib/weaviate"
        gossip = env["CLUSTER_GOSSIP_BIND_PORT"]
        assert env.get("CLUSTER_JOIN") == (None if name == NODES[0] else f"{NODES[0]}:{gossip}")
        [volume] = node["volumes"]
        source, target = volume.split(":")
        assert target == "/var/lib/weaviate" and source in COMPOSE["volumes"]
        volumes.add(source)
    assert len(volumes) == 3  # persistent, one per node


def test_the_services_know_every_node_and_replicate_to_all_three() -> None:
    for name, service in COMPOSE["services"].items():
        if "build" not in service:
            continue
        env = service["environment"]
        urls = env["WEAVIATE_URL"].split(",")
        assert urls == [f"http://{node}:8080" for node in NODES], name
        ports = env["WEAVIATE_GRPC_PORT"].split(",")
        assert len(ports) in (1, len(urls)), name
        assert env["WEAVIATE_REPLICATION_FACTOR"] == "3"
        assert env["WEAVIATE_WRITE_CONSISTENCY"] == "QUORUM"
        assert env["WEAVIATE_READ_CONSISTENCY"] in ("ONE", "QUORUM")
        assert set(NODES) <= set(service["depends_on"]) or "migrate" in service["depends_on"]


def test_workers_and_relays_are_scaled_out() -> None:
    services = COMPOSE["services"]
    assert services["worker"]["deploy"]["replicas"] == 3
    assert services["relay"]["deploy"]["replicas"] == 2
    for name in ("worker", "relay"):  # replicas cannot share a published host port
        assert "ports" not in services[name] and "container_name" not in services[name]
