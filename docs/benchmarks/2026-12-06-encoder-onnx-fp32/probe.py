"""Probe: ONNX fp32 against torch fp32 on the same texts (vectors, speed, memory), one process each."""

import json
import resource
import sys
import time

import numpy as np

from embeddings.encoder import load_encoder
from operations.corpus import paragraphs

kind = sys.argv[1]
texts = [p.document()["body"] for p in paragraphs(int(sys.argv[2]))]
enc = load_encoder(kind)
enc.encode(texts[:4])
t0 = time.perf_counter()
c0 = time.process_time()
v = enc.encode(texts)
wall = time.perf_counter() - t0
cpu = time.process_time() - c0
np.save(f"/tmp/probe-{kind}.npy", v)
print(
    json.dumps(
        {
            "kind": kind,
            "texts": len(texts),
            "texts_per_s": len(texts) / wall,
            "cpu_ms_per_text": 1000 * cpu / len(texts),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
    )
)
