"""Where the sync worker's CPU goes (``semsearch bench … --profile``): the worker runs under py-spy
(:mod:`.pyspy`), its sampled stacks are mapped to categories (tokenization, forward pass, padding,
hashing, cache, store writes, …) by the path rules of :mod:`.rules`, next to the same breakdown of
the raw encoder on the run's ceiling texts (:mod:`.encoder`); :mod:`.report` adds the table and
bars to the run's report.
"""
