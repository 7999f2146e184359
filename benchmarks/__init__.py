"""``semsearch bench``: measured side by side with the hardware's ceilings, in one run.

:mod:`benchmarks.cli` dispatches the subcommands to one subpackage per suite, each over
:mod:`benchmarks.harness` (a stack to measure, the corpus, the raw encoders' ceilings, memory
sampling, results, tables and plots): :mod:`benchmarks.throughput` (ingest, freshness, query load,
commands, endurance, edges; the HTTP load generator), :mod:`benchmarks.relevance` (ranking quality,
ANN recall, store agreement), :mod:`benchmarks.peer` (against LangChain's indexing API),
:mod:`benchmarks.sizing` (bytes and rates per store) and :mod:`benchmarks.profile` (the worker's CPU
by category). :mod:`benchmarks.extras` installs their optional dependencies on first use.
"""
