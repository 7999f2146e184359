"""Faults on purpose: the chaos cluster of real processes and the randomized soak."""
