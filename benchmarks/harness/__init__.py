"""What every suite stands on: a local stack to measure (:mod:`.stack`: ``BenchStack``, ``Target``),
the bench corpus (:mod:`.texts`), the raw encoders' ceilings with their STS Benchmark scores
(:mod:`.ceilings`, :mod:`.sts`), resident-memory and CPU sampling against each process's budget
(:mod:`.memory`), Prometheus scraping (:mod:`.metrics`), a run's figures, machine and acceptance
checks (:mod:`.results`), and the Markdown tables, PNG plots and argument types the reports and
subcommands share. It measures nothing by itself.
"""
