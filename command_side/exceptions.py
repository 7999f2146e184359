"""Command-side errors, each mapped to one HTTP status (a problem body) in ``command_side.api``.

CommandError
├── DocumentNotFound        404
├── DocumentExists          409
├── VersionMismatch         412
├── IdempotencyKeyReused    409
└── BadBatch                422
"""


class CommandError(Exception):
    status_code = 400


class DocumentNotFound(CommandError):
    status_code = 404


class DocumentExists(CommandError):
    status_code = 409


class VersionMismatch(CommandError):
    status_code = 412


class IdempotencyKeyReused(CommandError):
    """The key names an earlier, different request: the request itself is valid and would
    succeed with a new key, so this is a conflict with the server's state (409), not bad input."""

    status_code = 409


class BadBatch(CommandError):
    """A bulk import over the size limit, or naming one id twice."""

    status_code = 422
