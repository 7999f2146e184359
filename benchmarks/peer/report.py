"""``bench peer``'s figures → ratios, acceptance checks, ``report.md`` and a plot (no I/O but
the files it writes)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness.tables import table

TARGET_OVER_PEER = 1.5
TARGET_OVER_ENCODER = 0.93


def latency(seconds: list[float]) -> dict[str, Any]:
    ms = np.asarray(seconds) * 1e3
    return {"searches": len(ms), "p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p99_ms": round(float(np.percentile(ms, 99)), 2), "mean_ms": round(float(ms.mean()), 2)}


def rate(count: int, seconds: float) -> float:
    return round(count / seconds, 2) if seconds > 0 else float("nan")


def ratios(data: dict[str, Any]) -> dict[str, float | None]:
    """semsearch over the peer (first ingest, incremental), and each over its raw encoder (timed
    in every round on a sample of the round's texts as each embeds them)."""
    ingest, raw, incr = data["ingest"], data["raw_encoder"], data["incremental"]

    def over(a: float | None, b: float | None) -> float | None:
        return round(a / b, 3) if a and b else None

    return {
        "semsearch_over_peer": over(ingest["semsearch"]["documents_per_s"],
                                    ingest["peer"]["documents_per_s"]),
        "semsearch_over_raw_encoder": over(ingest["semsearch"]["documents_per_s"],
                                           raw["semsearch"]["documents_per_s"]),
        "peer_over_raw_encoder": over(ingest["peer"]["documents_per_s"], raw["peer"]["documents_per_s"]),
        "incremental_semsearch_over_peer": over(incr["semsearch"]["documents_per_s"],
                                                incr["peer"]["documents_per_s"]),
        "search_p50_peer_over_semsearch": over(data["search"]["peer"]["p50_ms"],
                                               data["search"]["semsearch"]["p50_ms"]),
    }


def checks(r: dict[str, float | None]) -> list[dict[str, Any]]:
    def check(what: str, value: float | None, target: float) -> dict[str, Any]:
        return {"what": what, "value": value, "target": f"≥ {target}",
                "pass": None if value is None else value >= target}

    return [check("semsearch documents/s / the peer's", r["semsearch_over_peer"], TARGET_OVER_PEER),
            check("semsearch documents/s / its raw encoder", r["semsearch_over_raw_encoder"],
                  TARGET_OVER_ENCODER)]


def markdown(data: dict[str, Any], picture: str | None) -> str:
    ingest, raw, incr, search = (data["ingest"], data["raw_encoder"], data["incremental"],
                                 data["search"])
    r = data["ratios"]
    s, p = ingest["semsearch"], ingest["peer"]
    lines = [f"# semsearch against a LangChain peer ({data['meta']['started']})", "",
             f"`{data['meta']['command']}` at commit {data['meta'].get('git_commit')}; "
             f"{data['corpus']}.", "", "## Checks", "",
             *table(["check", "value", "target", "pass"],
                    [[c["what"], c["value"], c["target"], {True: "PASS", False: "FAIL", None: "–"}[c["pass"]]]
                     for c in data["checks"]]),
             "## Ingest: every document searchable", "",
             *table(["", "documents", "seconds", "documents/s (rounds: lowest – highest)",
                     "raw encoder documents/s (rounds: lowest – highest)", "/ raw encoder"],
                    [[f"semsearch ({data['semsearch_setup']})", s["documents"], s["seconds"],
                      _span(s), _span(raw["semsearch"]), r["semsearch_over_raw_encoder"]],
                     [f"peer ({data['peer_setup']})", p["documents"], p["seconds"],
                      _span(p), _span(raw["peer"]), r["peer_over_raw_encoder"]]]),
             f"semsearch / peer: **{r['semsearch_over_peer']}**. {raw['semsearch']['texts']}; "
             f"{raw['peer']['texts']}.{_texts(raw)}", "",
             f"## Incremental: {incr['changed']} of {s['documents']} documents changed", "",
             *table(["", "changed documents", "seconds", "changed documents/s", "how"],
                    [[name, f["changed"], f["seconds"], f["documents_per_s"], f["how"]]
                     for name, f in (("semsearch", incr["semsearch"]), ("peer", incr["peer"]))]),
             f"semsearch / peer: **{r['incremental_semsearch_over_peer']}**.", "",
             "## Filtered search (one category), one request at a time", "",
             *table(["", "searches", "p50 ms", "p99 ms", "mean ms", "of which (p50 ms)", "how"],
                    [[name, f["searches"], f["p50_ms"], f["p99_ms"], f["mean_ms"],
                      f"{f.get('inside')}: {f.get('inside_p50_ms')}", f["how"]]
                     for name, f in (("semsearch", search["semsearch"]), ("peer", search["peer"]))])]
    if picture:
        lines += [f"![documents/s and latency]({picture})", ""]
    lines += ["## Notes", "", *[f"- {note}" for note in data["notes"]], "",
              f"Machine: {data['meta']['machine']}.", ""]
    return "\n".join(lines)


def _texts(raw: dict[str, Any]) -> str:
    """Texts each side embeds per document, where the run counted them."""
    per = {side: f["texts_embedded"] / f["documents"] for side, f in raw.items()
           if f.get("texts_embedded") and f.get("documents")}
    return "" if not per else " Texts embedded per document: " + ", ".join(
        f"{side} {round(n, 2)}" for side, n in per.items()) + "."


def _span(figures: dict[str, Any]) -> str:
    rounds = figures.get("rounds") or [figures["documents_per_s"]]
    return f"{figures['documents_per_s']} ({min(rounds)} – {max(rounds)})"


def plot(data: dict[str, Any], path: Path) -> Path:
    from benchmarks.harness.plots import _save, plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    names = ["semsearch", "peer"]
    groups = {"ingest": [data["ingest"][n]["documents_per_s"] for n in names],
              "incremental": [data["incremental"][n]["documents_per_s"] for n in names],
              "raw encoder": [data["raw_encoder"][n]["documents_per_s"] for n in names]}
    xs = np.arange(len(groups))
    for n, name in enumerate(names):
        left.bar(xs + (n - 0.5) * 0.4, [v[n] for v in groups.values()], 0.4, label=name)
    left.set_xticks(xs, list(groups))
    left.set_ylabel("documents/s")
    left.set_title("throughput (higher is better)")
    left.legend(fontsize=8)
    for n, name in enumerate(names):
        f = data["search"][name]
        right.bar(np.arange(2) + (n - 0.5) * 0.4, [f["p50_ms"], f["p99_ms"]], 0.4, label=name)
    right.set_xticks(np.arange(2), ["p50", "p99"])
    right.set_ylabel("ms")
    right.set_title("filtered search latency (lower is better)")
    right.legend(fontsize=8)
    return _save(fig, path)


def write(out: Path, data: dict[str, Any]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    data["ratios"] = ratios(data)
    data["checks"] = checks(data["ratios"])
    data["meta"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    picture = plot(data, out / "peer.png").name
    (out / "results.json").write_text(json.dumps(data, indent=1, default=str))
    report = out / "report.md"
    report.write_text(markdown(data, picture))
    return report
