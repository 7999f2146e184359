#!/bin/bash
# each variant: a fresh process, same 150 documents, calls of 64 texts
cd "$(git rev-parse --show-toplevel)"
run() { name=$1; shift; echo "$name $(env "$@" PYTHONPATH=. .venv/bin/python docs/benchmarks/2026-12-06-memory-cluster-torch-worker/worker_rss.py 150 64 /tmp/worker-rss-$name.npy 2>/dev/null | tail -1)"; }
run base X=1
run arena2 MALLOC_ARENA_MAX=2
run arena2-mmap MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072 MALLOC_TRIM_THRESHOLD_=131072
run mmap MALLOC_MMAP_THRESHOLD_=131072 MALLOC_TRIM_THRESHOLD_=131072
