"""Rate limits per key (per client address when auth is off), shared by every process through
Redis: a fixed window per (scope, caller), counted in Redis (SET NX EX, INCRBY, pipelined). A
process does not ask Redis for every request: it reserves a lease of 1% of the limit at a time
(at least what the request costs) and spends it locally, so a caller may be refused up to 1% of
its limit per API process early, and Redis sees one round trip per lease (at a limit of 3,
every request). A bulk import counts its documents. Over the limit: 429 with ``Retry-After`` and
``RateLimit-Limit``/``-Remaining``/``-Reset``. Without Redis the limits are not enforced (the
APIs keep serving, as they do for writes when Redis is away) and checks pause for a few seconds.

(A fixed window lets a caller spend up to twice its limit across a window boundary; the
``limits`` library's moving window would cost a sorted set per caller and a Lua script per
request for a precision these limits do not need.)
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

from fastapi import Request
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from redis.asyncio import Redis
from redis.exceptions import RedisError

from common.auth import Principal, Scope

log = logging.getLogger("semsearch.ratelimit")
PAUSE_AFTER_FAILURE_S = 5.0


class RateLimitSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    redis_url: str = "redis://127.0.0.1:6379/0"
    rate_limit_admin: int = Field(default=60_000, ge=0)
    """Writes per window for each admin key (a bulk import counts its documents); 0: no limit."""
    rate_limit_read: int = Field(default=120_000, ge=0)
    """Searches and document reads per window for each key; 0: no limit."""
    rate_limit_window_seconds: int = Field(default=60, ge=1, le=3600)


class RateLimited(Exception):
    status_code = 429

    def __init__(self, limit: int, reset_s: int, caller: str, scope: str) -> None:
        super().__init__(f"{caller} is over its {scope} limit of {limit} per window; "
                         f"retry in {reset_s}s")
        self.headers = {"Retry-After": str(reset_s), "RateLimit-Limit": str(limit),
                        "RateLimit-Remaining": "0", "RateLimit-Reset": str(reset_s)}


@dataclass
class Limiter:
    redis: Redis
    limits: dict[str, int]
    window_s: int
    paused_until: float = 0.0
    leases: dict[str, int] = field(default_factory=dict)
    """What this process reserved in Redis and has not spent yet, per counter of this window."""
    window: int = 0

    @classmethod
    def from_settings(cls, settings: RateLimitSettings) -> Limiter:
        redis = Redis.from_url(settings.redis_url, socket_connect_timeout=0.5, socket_timeout=0.5)
        return cls(redis, {"admin": settings.rate_limit_admin, "read": settings.rate_limit_read},
                   settings.rate_limit_window_seconds)

    def spend(self, principal: Principal, scope: Scope, cost: int = 1) -> str | None:
        """Count ``cost`` from what this process has leased already (no Redis, no await: most
        requests end here); the counter's key when a lease must be taken first."""
        limit = self.limits[scope]
        if not limit or cost <= 0 or (self.paused_until and time.monotonic() < self.paused_until):
            return None
        caller = principal.name if principal.name != "anonymous" else f"client {principal.client}"
        window = int(time.time() // self.window_s)
        if window != self.window:
            self.window, self.leases = window, {}
        key = f"semsearch:rl:{scope}:{caller}:{window}"
        if self.leases.get(key, 0) >= cost:
            self.leases[key] -= cost
            return None
        return key

    async def take(self, principal: Principal, scope: Scope, cost: int = 1) -> None:
        """Count ``cost`` against the caller's limit for ``scope``; raise RateLimited past it."""
        key = self.spend(principal, scope, cost)
        if key is not None:
            await self.lease(key, principal, scope, cost)

    async def lease(self, key: str, principal: Principal, scope: Scope, cost: int) -> None:
        """Reserve a share of the limit in Redis and spend ``cost`` from it."""
        limit = self.limits[scope]
        caller = principal.name if principal.name != "anonymous" else f"client {principal.client}"
        now, window = time.time(), int(key.rsplit(":", 1)[1])
        want = max(cost, limit // 100)
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.set(key, 0, ex=self.window_s + 1, nx=True)  # (EXPIRE NX needs Redis 7)
                pipe.incrby(key, want)
                _, used = await pipe.execute()
        except (RedisError, OSError) as exc:
            self.paused_until = time.monotonic() + PAUSE_AFTER_FAILURE_S
            log.warning("rate limits not enforced for %ss: Redis unavailable (%s)",
                        PAUSE_AFTER_FAILURE_S, exc)
            return
        available = limit - (int(used) - want)
        if available < cost:
            reset = max(1, math.ceil((window + 1) * self.window_s - now))
            raise RateLimited(limit, reset, caller, scope)
        self.leases[key] = self.leases.get(key, 0) + min(want, available) - cost

    async def close(self) -> None:
        await self.redis.aclose()


async def check(request: Request, scope: Scope, cost: int = 1,
                caller: Principal | None = None) -> None:
    limiter: Limiter | None = getattr(request.app.state, "limiter", None)
    if limiter is not None:
        await limiter.take(caller or request.state.principal, scope, cost)
