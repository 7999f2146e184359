"""``semsearch bench``: measured side by side with the hardware's ceilings, in one run.

Modules: :mod:`benchmarks.cli` (the subcommands), :mod:`benchmarks.ceilings` (raw encoder),
:mod:`benchmarks.stack` (a stack to measure), :mod:`benchmarks.loadgen` (HTTP load in its own
process), :mod:`benchmarks.memory` (RSS sampling), :mod:`benchmarks.report` (JSON, Markdown, PNG).
"""
