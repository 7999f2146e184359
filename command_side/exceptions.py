"""Command-side errors, each mapped to one HTTP status in ``command_side.api``.

CommandError
├── DocumentNotFound        404
├── DocumentExists          409
├── VersionMismatch         412
└── IdempotencyKeyReused    422
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
    status_code = 422
