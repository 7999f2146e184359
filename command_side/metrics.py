"""The command API's ADR-020 series (next to the HTTP ones of ``common.http``).

``cqrs_command_total{command, outcome}``: create, replace, patch, delete, bulk; written,
replayed, refused (401/403/404/409/412/429, a refused bulk) or error. ``cqrs_command_duration_seconds
{command}``: from the route's start to its answer (refusals before it, by auth or rate limit,
are counted but not timed).
"""

from prometheus_client import Counter, Histogram

COMMANDS = Counter("cqrs_command_total", "Commands by name and outcome (ADR-020)",
                   ["command", "outcome"])
COMMAND_SECONDS = Histogram(
    "cqrs_command_duration_seconds", "Command latency (ADR-020)", ["command"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))

NAMES = {("POST", "/v1/documents"): "create", ("PUT", "/v1/documents/{doc_id}"): "replace",
         ("PATCH", "/v1/documents/{doc_id}"): "patch", ("DELETE", "/v1/documents/{doc_id}"): "delete",
         ("POST", "/v1/documents/bulk"): "bulk"}


def command_name(method: str, route: str) -> str:
    return NAMES.get((method, route), "other")
