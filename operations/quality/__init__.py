"""Relevance on labelled sets: the sets, the measures and the gate ``index promote`` applies."""
