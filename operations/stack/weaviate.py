"""Weaviate as a bare ``weaviate-server`` process on loopback ports, built once with ``go install``.

No package registry ships the server, but it is a pure-Go module: ``CGO_ENABLED=0 go install
github.com/weaviate/weaviate/cmd/weaviate-server@v<version>`` builds it (a few minutes, once) into
``${XDG_CACHE_HOME:-~/.cache}/semsearch/weaviate-<version>/`` (a ``weaviate-v<version>/`` folder
is used too); ``$SEMSEARCH_WEAVIATE_BIN`` points at a binary built elsewhere.
``python -m operations.stack.weaviate build`` builds or locates it.

Each server has its own six ports (HTTP, gRPC, gossip, data, Raft, Raft RPC), so several can run
at once. The ports are remembered in the data folder, so a restart (``stop()`` then ``start()``, or
a new launcher on the same folder) comes back with its data. Alone, a server is a single-node
cluster; :class:`WeaviateCluster` (operations/stack/weaviate_cluster.py) joins N of them.
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

import httpx

from operations.stack.leftovers import Ledger
from operations.stack.process import Managed, port_open, wait_until

WEAVIATE_VERSION = "1.39.0"
"""The server release the stack builds and tests against (any ≥ 1.23.7 works with client v4)."""
MODULE = "github.com/weaviate/weaviate/cmd/weaviate-server"
READY_TIMEOUT = 90.0
"""Seconds to wait for ``/v1/.well-known/ready`` (a cold start takes about 8 s)."""
NODE_NAME = "semsearch-node0"
PORT_NAMES = ("http", "grpc", "gossip", "data", "raft", "raft_rpc")


def cached_binary(version: str = WEAVIATE_VERSION) -> Path:
    override = os.environ.get("SEMSEARCH_WEAVIATE_BIN")
    if override:
        return Path(override)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "semsearch"
    version = version.removeprefix("v")
    tagged = cache / f"weaviate-v{version}" / "weaviate-server"  # as built by hand before
    plain = cache / f"weaviate-{version}" / "weaviate-server"
    return tagged if tagged.exists() and not plain.exists() else plain


def ensure_binary(version: str = WEAVIATE_VERSION, build: bool = True) -> Path | None:
    """The cached server binary, built with ``go install`` if missing; None if Go is missing."""
    target = cached_binary(version)
    if target.exists():
        return target
    go = shutil.which("go")
    if not build or go is None:
        return None
    print(f"building weaviate-server v{version} with go install (first time only, "
          "a few minutes)...", file=sys.stderr, flush=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".build-", dir=target.parent) as tmp:
        rc, tail = _go_install(go, version, Path(tmp), {})
        if rc != 0:  # the proxy here is a mirror that sometimes lacks checksum entries
            print("go install failed; retrying with GOSUMDB=off", file=sys.stderr, flush=True)
            rc, tail = _go_install(go, version, Path(tmp), {"GOSUMDB": "off"})
        if rc != 0:
            raise RuntimeError(f"go install {MODULE}@v{version} failed:\n{tail}")
        os.replace(Path(tmp) / "weaviate-server", target)  # never a half-written binary
    return target


def _go_install(go: str, version: str, gobin: Path, extra: dict[str, str]) -> tuple[int, str]:
    """Run ``go install`` into ``gobin``, streaming its output to stderr; (exit code, tail)."""
    env = {**os.environ, "CGO_ENABLED": "0", "GOBIN": str(gobin), **extra}
    tail: collections.deque[str] = collections.deque(maxlen=30)
    proc = subprocess.Popen([go, "install", f"{MODULE}@v{version}"], env=env, cwd=gobin,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        sys.stderr.write(line)
        tail.append(line.rstrip())
    return proc.wait(), "\n".join(tail)


def _free_ports() -> dict[str, int]:
    """Six distinct free loopback ports, ``data = gossip + 1`` and ``raft_rpc = raft + 1``.

    With ``CLUSTER_IN_LOCALHOST`` Weaviate finds a node's data and Raft RPC ports that way.
    """
    with ExitStack() as held:
        def grab(port: int = 0) -> int:
            sock = held.enter_context(socket.socket())
            sock.bind(("127.0.0.1", port))
            return int(sock.getsockname()[1])

        def pair() -> tuple[int, int]:
            while True:
                first = grab()
                try:
                    return first, grab(first + 1)
                except (OSError, OverflowError):  # taken, or first was 65535
                    continue

        ports = {"http": grab(), "grpc": grab()}
        ports["gossip"], ports["data"] = pair()
        ports["raft"], ports["raft_rpc"] = pair()
        return ports


class EmbeddedWeaviate:
    def __init__(self, data_dir: Path, http_port: int | None = None, grpc_port: int | None = None,
                 binary: Path | None = None, name: str = NODE_NAME,
                 ledger: Ledger | None = None) -> None:
        self.data_dir = data_dir
        self.binary = binary
        self.name = name
        self.ledger = ledger
        self.peers: list[EmbeddedWeaviate] = []
        """The other nodes of its cluster (set by WeaviateCluster); none: a cluster of one."""
        self.extra_env: dict[str, str] = {}
        """Server settings over the defaults below (tests: e.g. ASYNC_REPLICATION_DISABLED)."""
        self.ports = self._load_ports()
        if http_port is not None:
            self.ports["http"] = http_port
        if grpc_port is not None:
            self.ports["grpc"] = grpc_port
        self.process: Managed | None = None

    @property
    def http_port(self) -> int:
        return self.ports["http"]

    @property
    def grpc_port(self) -> int:
        return self.ports["grpc"]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def log(self) -> Path:
        return self.data_dir / "weaviate.log"

    def _load_ports(self) -> dict[str, int]:
        """The ports of the last run on this folder if still free, else fresh ones."""
        saved = self.data_dir / "ports.json"
        if saved.exists():
            ports = {k: int(v) for k, v in json.loads(saved.read_text()).items()}
            if set(ports) == set(PORT_NAMES) and not any(map(port_open, ports.values())):
                return ports
        return _free_ports()

    def _cluster_env(self) -> dict[str, str]:
        """Raft voters are every node (bootstrap waits for all of them); gossip joins the others,
        so any node, restarted alone, finds the cluster again."""
        voters = sorted([self, *self.peers], key=lambda n: n.name)
        env = {"CLUSTER_HOSTNAME": self.name,
               "RAFT_JOIN": ",".join(f"{n.name}:{n.ports['raft']}" for n in voters),
               "RAFT_BOOTSTRAP_EXPECT": str(len(voters))}
        if self.peers:
            env["CLUSTER_JOIN"] = ",".join(f"127.0.0.1:{n.ports['gossip']}" for n in self.peers)
            # a node that returns catches up within seconds (defaults: every 30 s, and only
            # changes older than 30 s); loopback peers answer fast
            env |= {"ASYNC_REPLICATION_FREQUENCY": "2s",
                    "ASYNC_REPLICATION_FREQUENCY_WHILE_PROPAGATING": "1s",
                    "ASYNC_REPLICATION_PROPAGATION_DELAY": "2s"}
        return env

    def _env(self) -> dict[str, str]:
        p = self.ports
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", str(self.data_dir)),
            "AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED": "true",
            "DEFAULT_VECTORIZER_MODULE": "none",
            "ENABLE_MODULES": "",
            "PERSISTENCE_DATA_PATH": str(self.data_dir / "data"),
            "CLUSTER_IN_LOCALHOST": "true",
            "CLUSTER_BIND_ADDR": "127.0.0.1",
            "CLUSTER_GOSSIP_BIND_PORT": str(p["gossip"]),
            "CLUSTER_DATA_BIND_PORT": str(p["data"]),
            "RAFT_PORT": str(p["raft"]),
            "RAFT_INTERNAL_RPC_PORT": str(p["raft_rpc"]),
            "GRPC_PORT": str(p["grpc"]),
            "QUERY_DEFAULTS_LIMIT": "25",
            "LOG_LEVEL": "warning",
            "AUTOSCHEMA_ENABLED": "false",  # every property is declared; surprises fail loudly
            "DISABLE_TELEMETRY": "true",
            "GO_PROFILING_DISABLE": "true",
            **self._cluster_env(),
            **self.extra_env,
        }

    def start(self, wait: bool = True) -> EmbeddedWeaviate:
        """Start the server; ``wait``: until it is ready (a cluster starts every node first)."""
        self.launch()
        if wait:
            self.wait_ready()
        return self

    def launch(self) -> None:
        binary = self.binary or ensure_binary(build=False)
        if binary is None or not binary.exists():
            raise FileNotFoundError(
                "no weaviate-server: run `python -m operations.stack.weaviate build` "
                "(needs Go ≥ 1.26) or set SEMSEARCH_WEAVIATE_BIN")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "ports.json").write_text(json.dumps(self.ports))
        args = [str(binary), "--host", "127.0.0.1", "--port", str(self.http_port),
                "--scheme", "http"]
        self.process = Managed(self.name, args, self.log, env=self._env(),
                               cwd=self.data_dir, ledger=self.ledger).start()

    def wait_ready(self) -> None:
        process = self.process
        assert process is not None
        try:
            wait_until(lambda: not process.alive() or self.ready(), READY_TIMEOUT, "Weaviate",
                       self.log)
        except BaseException:
            process.stop()
            raise
        if not process.alive():
            tail = "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])
            raise RuntimeError(f"weaviate-server exited; see {self.log}\n{tail}")

    def ready(self) -> bool:
        return httpx.get(f"{self.url}/v1/.well-known/ready", timeout=1).status_code == 200

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(timeout=30)

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args != ["build"]:
        print("usage: python -m operations.stack.weaviate build", file=sys.stderr)
        return 2
    try:
        binary = ensure_binary()
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if binary is None:
        print(f"error: no weaviate-server at {cached_binary(WEAVIATE_VERSION)} and no `go` on PATH"
              " to build it (needs Go ≥ 1.26); set SEMSEARCH_WEAVIATE_BIN to a built binary",
              file=sys.stderr)
        return 1
    print(binary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
