"""How fast the pipeline goes, on one stack per store (``semsearch bench ingest | freshness | query |
commands | all | endurance | edges``): documents/s through the command API until searchable
against the raw encoder, commit-to-searchable lag under steady writes, closed-loop query load at
several concurrencies and past overload, command API creates and updates beside the naive
embed-in-request baseline, memory held flat over a long run, and what keys and rate limits cost.
The HTTP load runs in a process of its own (:mod:`.loadgen`, or its Go build in ``goload/``);
:mod:`.steps` runs a session's steps and :mod:`.report` writes the run's report.
"""
