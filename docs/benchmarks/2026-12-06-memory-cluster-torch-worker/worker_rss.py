"""Peak RSS of the torch encoder as the worker runs it: load, warm up, then embed the passages of
N benchmark documents in calls of CALL texts (batch 32, as the worker does). Prints JSON: RSS
after load, peak (ru_maxrss), last, docs/s; saves the vectors to compare variants bit for bit.
Run once per environment variant (glibc reads its MALLOC_* settings at process start):
``PYTHONPATH=. .venv/bin/python worker_rss.py N CALL vectors.npy`` (see run.sh)."""

import json
import resource
import sys
import time

import numpy as np
import psutil
import torch

from benchmarks import texts
from benchmarks.steps import ceiling_sample
from embeddings import SentenceTransformerEncoder

docs, call = int(sys.argv[1]), int(sys.argv[2])
sample = ceiling_sample(texts.build(docs), docs)
encoder = SentenceTransformerEncoder()
encoder.encode(["warm up"])
loaded = psutil.Process().memory_info().rss / 2**20
started = time.perf_counter()
out = [encoder.encode(sample.texts[i:i + call]) for i in range(0, len(sample.texts), call)]
seconds = time.perf_counter() - started
np.save(sys.argv[3], np.concatenate(out))
print(json.dumps({"rss_after_load_mb": round(loaded, 1),
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                  "last_rss_mb": round(psutil.Process().memory_info().rss / 2**20, 1),
                  "texts": len(sample.texts), "docs_per_s": round(docs / seconds, 2),
                  "torch_threads": torch.get_num_threads()}))
