"""The run's output folder: ``results.json``, ``report.md`` and the PNG plots."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from benchmarks.harness import plots
from benchmarks.harness.memory import budget_mb
from benchmarks.harness.results import Run, checks
from benchmarks.harness.tables import table
from benchmarks.profile import report as profile_report
from benchmarks.throughput import overload


def _ceilings(data: dict[str, Any]) -> list[str]:
    rows = [[c["backend"], c["model_id"], c["document_sample"], c.get("document_passages"),
             c["documents_per_s"], c.get("cpu_ms_per_document"),
             c["queries_per_s_batched"], c["queries_per_s_single"], c["query_single_p50_ms"],
             c.get("sts_spearman")] for name, c in data.get("ceilings", {}).items() if name != "speedup"]
    if not rows:
        return []
    lines = ["## Ceilings: the raw encoder, same texts, same run", ""]
    lines += table(["backend", "model id", "docs sampled", "their passages", "docs/s",
                    "CPU ms per doc", "queries/s (batched 64)",
                    "queries/s (one at a time)", "one query p50 ms", "STS-B Spearman"], rows)
    if speedup := data["ceilings"].get("speedup"):
        lines += [f"ONNX int8 speed-up over torch fp32: {speedup}", ""]
    return lines


def _ingest(store: str, ingest: dict[str, Any], phases: list[dict[str, Any]],
            ceiling: dict[str, Any]) -> list[str]:
    return [f"### Ingest ({store})", "", *table(
        ["documents", "seconds", "docs/s end to end", "raw encoder docs/s", "ratio", "write-only docs/s"],
        [[ingest["documents"], ingest["seconds"], ingest["documents_per_s"],
          ingest["encoder_documents_per_s"], ingest["ratio_to_encoder"],
          ingest["write_documents_per_s"]]]), *_bracket(ingest, "documents"),
            *_ingest_cpu(ingest, phases, ceiling)]


def _bracket(figures: dict[str, Any], unit: str) -> list[str]:
    if not (bracket := figures.get("encoder_bracket")):
        return []
    return [f"The raw encoder was measured just before and just after this step: "
            f"{bracket['before']} and {bracket['after']} {unit}/s; the ratio is to their mean, "
            f"{bracket['mean']} (the machine is shared, its speed drifts within a run).", ""]


def _ingest_cpu(ingest: dict[str, Any], phases: list[dict[str, Any]],
                ceiling: dict[str, Any]) -> list[str]:
    """Where a document's CPU goes during ingest, next to what the raw encoder spends on one."""
    phase = next((p for p in phases if p["phase"] == ingest.get("phase", "ingest")), None)
    rate, encoder = ingest["documents_per_s"], ingest["encoder_documents_per_s"]
    if phase is None or not rate or not encoder:
        return []
    cpus = os.cpu_count() or 1
    per_doc = {name: round(cores * 1e3 / rate, 2) for name, cores in phase["cores"].items()
               if cores > 0.005}
    per_doc["outside the stack"] = round(phase["outside_stack"] * 1e3 / rate, 2)
    machine = round(phase["machine_busy"] * 1e3 / rate, 2)
    measured = ceiling.get("cpu_ms_per_document")
    encoder_ms = measured or round(cpus * 1e3 / encoder, 2)
    how = ("measured: this process's CPU while it encoded the passages of the sampled documents"
           if measured else f"{cpus} cores over its documents/s")
    parts = ", ".join(f"{name} {ms}" for name, ms in sorted(per_doc.items(), key=lambda kv: -kv[1]))
    worker = per_doc.get("worker")
    versus = (f" The worker spends {round(worker / encoder_ms, 3)}× the raw encoder's CPU per "
              "document." if worker else "")
    return [f"CPU per document during ingest, in ms of one core: {parts}; the whole machine "
            f"{machine} ({phase['machine_busy']} of {cpus} cores busy). The raw encoder spends "
            f"{encoder_ms} ms per document ({how}).{versus} With everything else a document "
            f"costs here, {cpus} cores fully busy would ingest at most "
            f"{round(cpus * 1e3 / machine, 1)}/s = {round(encoder_ms / machine, 3)} of the raw "
            "encoder.", ""]


def _ingest_workers(store: str, runs: list[dict[str, Any]], phases: list[dict[str, Any]]
                    ) -> list[str]:
    """docs/s at each worker count, and the cores each process took during that run."""
    by_phase = {p["phase"]: p for p in phases}
    used = [by_phase.get(r["phase"], {"cores": {}}) for r in runs]
    names = sorted({name for u in used for name in u["cores"]})
    rows = [[r["workers"], r["documents"], r["seconds"], r["documents_per_s"],
             r.get("ratio_to_encoder"), u.get("machine_busy"), u.get("outside_stack"),
             u.get("stolen"), round(sum(c for n, c in u["cores"].items()
                                        if n.split("/")[0] == "worker"), 3),
             *(u["cores"].get(name) for name in names)] for r, u in zip(runs, used, strict=True)]
    return [f"### Ingest by worker count ({store}), cores of {os.cpu_count()}", "",
            "Each count ingests the same number of new documents on the same stack, the counts "
            "in ascending order (workers join between runs; the store grows by one corpus each "
            "time). Each worker runs the encoder with its default threads. The columns after "
            "the ratio say where the cores went during each run: the whole machine, what ran "
            "outside the stack, what the host stole, all workers together, then each process.",
            "", *table(["workers", "documents", "seconds", "docs/s", "ratio to raw encoder",
                        "machine busy", "outside the stack", "stolen", "all workers", *names],
                       rows)]


def _freshness(store: str, fresh: dict[str, Any]) -> list[str]:
    hist = fresh.get("worker_histogram") or {}
    return [f"### Freshness ({store})", "",
            f"Steady creates at {fresh['rate_per_s']}/s = half of "
            f"{fresh['capacity'].get('documents_per_s')} documents/s ({fresh['capacity'].get('basis')}); "
            f"measured by {fresh['method']}.", "", *table(
                ["writes", "searchable", "p50 ms", "p95 ms", "p99 ms", "max ms",
                 "worker histogram p50/p95/p99 ms (bucketed)"],
                [[fresh["documents"], fresh["searchable"], fresh["p50_ms"], fresh["p95_ms"],
                  fresh["p99_ms"], fresh["max_ms"],
                  f"{hist.get('p50_ms')} / {hist.get('p95_ms')} / {hist.get('p99_ms')}"]])]


def _query(store: str, size: str, q: dict[str, Any], ceiling: dict[str, Any]) -> list[str]:
    rows = [[kind, r["concurrency"], r["qps"], r["p50_ms"], r["p99_ms"], r["errors"],
             r.get("mean_embedding_batch"), r.get("result_cache_hits"), r["loadgen_cpu_share"],
             (r.get("cpu_ms_per_query") or {}).get("machine")]
            for kind, levels in q["kinds"].items() for r in levels]
    half = q["half_load"]
    return [f"### Query ({store}, {size} documents; loaded by {q.get('loaded_by', '?')}; "
            f"query API processes: {q.get('query_api_processes') or '?'})", "", *table(
        ["workload", "clients", "QPS", "p50 ms", "p99 ms", "errors", "mean embedding batch",
         "result cache hits", "load generator CPU (cores)", "machine CPU ms per query"], rows),
        f"Distinct queries open-loop at {half['rate_per_s']}/s (half the best): p50 "
        f"{half['p50_ms']} ms, p99 {half['p99_ms']} ms, {half['errors']} errors. Best distinct QPS / "
        f"raw batched encoding = {q.get('ratio_to_batched_encoder')}.", "",
        *_bracket(q, "queries"), *_distinct_cpu(q, ceiling), *_store_alone(q), "",
        *(overload.lines(q["overload"], table) if "overload" in q else [])]


def _distinct_cpu(q: dict[str, Any], ceiling: dict[str, Any]) -> list[str]:
    """Where a distinct query's CPU goes, next to what the raw encoder spends on one."""
    best = q["best"]["distinct"]
    spent = best.get("cpu_ms_per_query")
    batched = q.get("encoder_queries_per_s_batched") or ceiling.get("queries_per_s_batched")
    if not spent or not batched:
        return []
    cpus = os.cpu_count() or 1
    encoder_ms = round(cpus * 1e3 / batched, 2)
    parts = ", ".join(f"{name} {ms}" for name, ms in sorted(spent.items(), key=lambda kv: -kv[1])
                      if name != "machine")
    return [f"CPU per distinct query at the best level (c={best['concurrency']}), in ms of one "
                f"core: {parts}; the whole machine {spent['machine']}. The raw encoder spends "
                f"{encoder_ms} ms per query ({cpus} cores / {batched} queries/s), so with "
                f"everything else a distinct query costs, {cpus} cores serve at most "
                f"{round(cpus * 1e3 / spent['machine'], 1)}/s = "
                f"{round(encoder_ms / spent['machine'], 3)} of the raw batched rate."]


def _store_alone(q: dict[str, Any]) -> list[str]:
    alone = q.get("store_alone")
    if not alone:
        return []
    return ["", f"The store alone (no HTTP, no encoder, {alone['threads']} threads, ready-made query "
                f"vectors): {alone['searches_per_s']} searches/s. Encoder and store share the same "
                f"cores, so a distinct query cannot be served faster than both in turn: at best "
                f"{alone['bound_with_encoder_per_s']}/s (1 / (1/encoder + 1/store)) = "
                f"{alone.get('bound_to_batched_encoder', '?')} of the raw batched rate, before any "
                f"HTTP work; the best distinct QPS is {alone['ratio_to_bound']} of that bound."]


def _commands(store: str, c: dict[str, Any]) -> list[str]:
    rows = [[state, op, r["concurrency"], r["qps"], r["p50_ms"], r["p99_ms"], r["errors"]]
            for state in ("paused", "running", "naive") for op, levels in c.get(state, {}).items()
            for r in levels]
    return [f"### Commands ({store})", "", *table(
        ["worker", "operation", "clients", "per second", "p50 ms", "p99 ms", "errors"], rows)]


def _memory(store: str, mem: dict[str, Any]) -> list[str]:
    rows = [[name, m["peak_mb"], m["first_mb"], m["last_mb"], m["budget_mb"], m["within_budget"],
             m["growth_mb_per_min_2nd_half"]] for name, m in mem.items()]
    return [f"### Memory ({store})", "", *table(
        ["process", "peak RSS MB", "first MB", "last MB", "budget MB", "within", "growth MB/min (2nd half)"],
        rows)]


def _endurance(store: str, e: dict[str, Any]) -> list[str]:
    rows = [[kind, e[kind]["ok"], e[kind]["errors"], e[kind]["qps"], e[kind]["p50_ms"],
             e[kind]["p99_ms"]] for kind in ("writes", "searches")]
    return [f"### Endurance ({store})", "",
            f"{e['minutes']} minutes: creates at {e['write_rate_per_s']}/s (open loop) and distinct "
            f"searches from {e['search_clients']} clients (closed loop), side by side; "
            f"{e['documents_written']} documents written, {e['searches_served']} searches served. "
            "Memory over the run: the table below and the RSS plot.", "",
            *table(["load", "ok", "errors", "per second", "p50 ms", "p99 ms"], rows)]


def _cpu(store: str, phases: list[dict[str, Any]]) -> list[str]:
    names = sorted({name for phase in phases for name in phase["cores"]})
    rows = [[p["phase"], p["seconds"], p["machine_busy"], p["outside_stack"], p.get("stolen"),
             *(p["cores"].get(name) for name in names)] for p in phases]
    return [f"### CPU by phase ({store}), in cores of {os.cpu_count()}", "",
            "Outside the stack: the bench process, its load generators and anything else the "
            "machine ran. Stolen: time the host gave this machine's cores to another guest while "
            "they had work (not counted as busy).", "",
            *table(["phase", "seconds", "machine busy", "outside the stack", "stolen", *names],
                   rows)]


def markdown(run: Run, pictures: list[Path]) -> str:
    data = run.data
    meta = data.get("meta", {})
    lines = ["# semsearch benchmark", "", f"- command: `{meta.get('command')}`",
             f"- started: {meta.get('started')}, git {meta.get('git_commit')}",
             f"- machine: {meta.get('machine')}", f"- load generator: {meta.get('load_generator')}",
             f"- corpus: {data.get('corpus')}", ""]
    found = [[c["what"], c["value"], c["target"], c["pass"]] for c in data["checks"]]
    lines += ["## Checks", "", *table(["what", "measured", "target", "pass"], found)]
    lines += _ceilings(data)
    for store, figures in data["stores"].items():
        lines += [f"## {store}", ""]
        if "ingest" in figures:
            lines += _ingest(store, figures["ingest"], figures.get("cpu") or [],
                             figures.get("ceiling") or {})
        if "ingest_workers" in figures:
            lines += _ingest_workers(store, figures["ingest_workers"], figures.get("cpu") or [])
        if "freshness" in figures:
            lines += _freshness(store, figures["freshness"])
        for size, q in sorted(figures.get("query", {}).items(), key=lambda kv: int(kv[0])):
            lines += _query(store, size, q, figures.get("ceiling") or {})
        if "commands" in figures:
            lines += _commands(store, figures["commands"])
        if "endurance" in figures:
            lines += _endurance(store, figures["endurance"])
        if "memory" in figures:
            lines += _memory(store, figures["memory"])
        if figures.get("cpu"):
            lines += _cpu(store, figures["cpu"])
        if "profile" in figures:
            lines += profile_report.section(store, figures["profile"])
    lines += ["## Notes", "", *(f"- {n}" for n in data["notes"]), "", "## Plots", ""]
    lines += [f"![{p.stem}]({p.name})" for p in pictures]
    return "\n".join(lines) + "\n"


def draw(run: Run) -> list[Path]:
    out, pictures = run.out, []
    for store, figures in run.data["stores"].items():
        groups: dict[str, tuple[str, ...]] = {
            f"query-{size}": (f"{store} {size} ",) for size in figures.get("query", {})}
        for size, q in figures.get("query", {}).items():
            if "overload" in q:
                pictures.append(overload.draw(out / f"overload-{store}-{size}.png",
                                              f"{store}, {size} documents: overload", q["overload"]))
        groups["commands"] = (f"{store} worker", f"{store} naive")
        for name, prefixes in groups.items():
            if found := run.latencies(prefixes, strip=f"{store} "):
                pictures.append(plots.latency_cdf(out / f"latency-{store}-{name}.png",
                                                  f"{store}: {name} latency", found))
        if ingest := figures.get("ingest"):
            curves = {f"{r['workers']} worker(s): documents searchable": r["curve"]
                      for r in figures.get("ingest_workers", [])}
            pictures.append(plots.throughput(out / f"ingest-{store}.png", f"{store}: ingest",
                                             curves or {"documents searchable": ingest["curve"]},
                                             "documents"))
        if fresh := figures.get("freshness"):
            pictures.append(plots.freshness(out / f"freshness-{store}.png",
                                            f"{store}: commit → searchable", fresh["latencies_ms"]))
        loads = {n: [(i + 0.5, float(c)) for i, c in enumerate(r.per_second())]
                 for n, r in run.loads.items() if n.startswith(store)}
        if loads:
            pictures.append(plots.throughput(out / f"throughput-{store}.png", f"{store}: requests/s",
                                             loads, "successful requests per second"))
        if "profile" in figures:
            pictures.append(profile_report.draw(out / f"profile-{store}.png", store, figures["profile"]))
        if store in run.rss:
            pictures.append(plots.rss(out / f"rss-{store}.png", f"{store}: resident memory",
                                      run.rss[store], run.marks.get(store, []), budget_mb))
    return pictures


def write(run: Run) -> Path:
    run.out.mkdir(parents=True, exist_ok=True)
    run.data["checks"] = checks(run.data)
    run.data.setdefault("meta", {})["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    pictures = draw(run)
    (run.out / "results.json").write_text(json.dumps(run.data, indent=1, default=str))
    report = run.out / "report.md"
    report.write_text(markdown(run, pictures))
    return report
