"""``reports/scale.md``: the scale measurements of ``reports/scale.json`` and the query latency
of ``reports/bench.json``, then the capacity plan, every estimate with its arithmetic."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.measurement.scale import RESULTS_FILE, SPARSE_ENTRY_BYTES, TRAINING_SIZES
from core.serving.model import ModelParams


@dataclass(frozen=True)
class CapacityTargets:
    """The deployment the plan is for, and the assumptions that are not measured here."""

    photos: int = 10_000_000
    queries_per_second: float = 100.0
    ingest_hours: float = 24.0  # finish the first ingest within a day
    votes_per_search: float = 0.1  # assumed: one search in ten gets a thumbs up or down
    replica_utilization: float = 0.6  # keep a replica's core 40 % idle for bursts
    node_cores: int = 2  # nodes like this machine
    replicas_per_node: int = 2  # one Streamlit process per core
    query_p95_ms: float = 200.0  # a query on one core, every kind (issue 23)
    vocabulary_cap: int = 1_000_000  # tokens kept per modality after pruning rare ones
    search_row_bytes: int = 450  # assumed, see the report
    vote_row_bytes: int = 120
    document_row_overhead_bytes: int = 120


REMEDIES = {
    "serving replica memory": "replicas are lean (records, counts and index mapped and shared), "
    "and the counts are float32 (whole numbers, the same scores); what a node must hold is the "
    "index and the counts a query reads: a smaller topic-major copy (float16 thetas lost recall: "
    "`bench-index`) and phi in float32. A photo's look-alikes no longer read the visual words' "
    "whole columns (9.5 GB at ten million documents) but documents' looks (0.6 GB)",
    "build driver memory": "the token bags stream to shards, the records from the collection "
    "file as the batches go out, the thetas to the index, and the translations count word "
    "pairs in arrays; what still grows is the distinct word pairs (16 bytes each, twice that "
    "while a merge inserts new ones) and a few ids per document (the scan's, the records' "
    "sorted index): pairs counted per shard on the workers and merged on disk, and ids sorted "
    "on disk, would keep the driver flat",
    "query latency on one core": "more replicas add throughput, not speed. A photo's "
    "look-alikes (its annotation's neighbours and its candidates) are read from documents' "
    "looks, their 8 heaviest visual words (80 million entries at ten million documents, "
    "against 1.2 billion in the whole columns; the top of each whole column by share had found "
    "too few of them), so a photo now spends its time scoring its 8,000 candidates: their "
    "likelihood over its visual words and its annotation's exact L1 to them. Fewer cost recall "
    "(4,000 by looks found 10 of 40 of four photos' exhaustive top 10, 8,000 found 19), so what "
    "would lift it is scoring them cheaper, or candidates that hold more of the top 10 (the "
    "photo's predicted words name none yet). A text query of several words is proven by the "
    "documents that say all of them where coordination sets them apart ('red car': 4,810 of "
    "the documents), and a query of a common word reads the top of its forms' columns, kept in "
    "the order of the p_own their documents' counts give (impact order, 434 MB at ten million "
    "documents), as deep as a bound on the documents left (their counts within one length) "
    "falls below its tenth score: 'дом' 189 ms against 681 reading every document that says "
    "it. Where tens of thousands of bounds tie above the tenth score ('птица', said by about "
    "a million documents) nothing is proven and the candidates answer; the bound's topic part "
    "(max_t phi for every document) is what ties them, so a tighter one per document, or a "
    "cheaper scoring of the candidates, would lift it",
    "training time on one node": "a node with many cores (BigARTM's processors scale on one "
    "machine), online training with fewer passes, or training on a sample and inferring the "
    "rest's thetas on the Dask workers",
}


def _mb(n_bytes: float) -> str:
    return f"{n_bytes / 2**20:,.0f} MB"


def _gb(n_bytes: float) -> str:
    """Decimal gigabytes, as ``scale-node`` reports a node's memory."""
    return f"{n_bytes / 1e9:,.1f} GB"


def _default_index_rows(bench: dict) -> list[dict]:
    from core.serving.index import IndexParams

    method = IndexParams().method
    return [
        row
        for row in bench.get("index", [])
        if row.get("method") == method and row.get("thetas", "realistic") == "realistic"
    ]


def _query_latency_rows(bench: dict) -> list[tuple[str, str, str, float, float]]:
    """(documents, index, kind, p50, p95) of every end-to-end query latency in bench.json."""
    rows = []
    builtin = bench.get("latency_builtin")
    scaled = bench.get("latency_scaled", [])
    for entry in ([builtin] if builtin else []) + list(scaled):
        for kind, timing in entry["latency"].items():
            rows.append(
                (
                    entry["documents"],
                    entry.get("index", "?"),
                    kind,
                    timing["p50_ms"],
                    timing["p95_ms"],
                )
            )
    return rows


def render_report(
    results: dict,
    bench: dict,
    targets: CapacityTargets | None = None,
    page_cost: dict | None = None,
) -> str:
    """``reports/scale.md``: the measured rows, then the capacity plan with its arithmetic."""
    t = targets or CapacityTargets()
    out = [
        "# Scale: Dask ingest, out-of-core training, capacity plan",
        "",
        "Written by `python -m core scale-report` from `reports/scale.json` (filled by "
        "`python -m core scale-ingest`, `scale-train` and `scale-footprint`), "
        "`reports/bench.json` (`python -m core bench`) and `reports/page_cost.json` "
        "(`scripts/measure_app.py --report`). Rows marked **measured** were measured "
        "on this machine (2 shared cores, other work running: the load average at each "
        "measurement is given); everything else is an **estimate** with its arithmetic.",
        "",
    ]
    ingest = results.get("ingest", {})
    training = results.get("training", {})
    footprint = results.get("footprint", {}).get("source")

    out += ["## Ingest throughput on local Dask workers (measured)", ""]
    if ingest:
        out += [
            "Text processing and vectorization of the built-in collection, empty image cache, "
            "workers warmed up first (TensorFlow loaded, CNN built), one thread per worker.",
            "",
            "| workers | images | seconds | images/s | worker CPU s per image "
            "| worker start-up s | worker RSS | load avg |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for key in sorted(ingest, key=int):
            r = ingest[key]
            out.append(
                f"| {r['workers']} | {r['images']} | {r['seconds']:.1f} | "
                f"{r['images_per_second']:.1f} | {r['worker_cpu_seconds'] / r['images']:.3f} | "
                f"{max(r['worker_warmup_seconds']):.1f} | "
                f"{_mb(max(r['worker_rss_bytes']))} | {r['load_average_at_start']:.1f} |"
            )
        out.append("")
    else:
        out += ["Not measured yet: run `python -m core scale-ingest`.", ""]

    out += ["## Training out of core on one node (measured)", ""]
    if training:
        first = next(iter(training.values()))
        out += [
            f"Synthetic documents drawn from the token distributions of "
            f"{first['source_documents']} built documents (`core/measurement/scale.py`), written "
            f"as a "
            f"Vowpal Wabbit file that BigARTM turns into batches of 1,000 on disk; "
            f"{first['num_topics']} topics, BigARTM processors = {first['processors']} "
            f"(every core), the build's regularizers (those with tau != 0: smoothing of the "
            f"background topics) and a perplexity score per modality. Wall seconds depend on the "
            f"other work on the machine; CPU seconds less so.",
            "",
            "| documents | batches on disk | vocabulary | s per pass (wall) | CPU s per pass "
            "| peak RSS | load avg | measured at |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for key in sorted(training, key=int):
            r = training[key]
            vocabulary = sum(r["vocabulary"].values())
            out.append(
                f"| {r['documents']:,} | {_mb(r['batches_bytes'])} | {vocabulary:,} | "
                + ", ".join(f"{s:.0f}" for s in r["pass_seconds"])
                + " | "
                + ", ".join(f"{s:.0f}" for s in r["pass_cpu_seconds"])
                + f" | {_mb(max(r['peak_rss_bytes'], r['max_rss_bytes']))} | "
                + (f"{r['load_average_at_start']:.1f}" if "load_average_at_start" in r else "?")
                + f" | {r['measured_at']} |"
            )
        missing = [n for n in TRAINING_SIZES if str(n) not in training]
        out += [
            f"| {n:,} | not measured yet: `python -m core scale-train --documents {n}` " + "| " * 6
            for n in missing
        ]
        out.append("")
    else:
        out += ["Not measured yet: run `python -m core scale-train`.", ""]

    out += ["## Query latency (measured, from `reports/bench.json`)", ""]
    latency = _query_latency_rows(bench)
    if latency:
        out += ["| documents | index | query | p50 ms | p95 ms |", "|---|---|---|---|---|"]
        out += [f"| {d:,} | {i} | {k} | {p50:.1f} | {p95:.1f} |" for d, i, k, p50, p95 in latency]
        out.append("")
    index_rows = _default_index_rows(bench)
    if index_rows:
        out += [
            "Default index alone (one core):",
            "",
            "| documents | p50 ms | size |",
            "|---|---|---|",
        ]
        out += [
            f"| {r['documents']:,} | {r['p50_ms']:.2f} | {r['memory_mb']:,.0f} MB |"
            for r in index_rows
        ]
        out.append("")

    out += _build_driver(results)
    out += _ranking_at_scale(results.get("query", {}))
    out += _replica_start(results.get("replica", {}))
    out += _node(results.get("node", {}), results.get("version", {}))
    out += _capacity_plan(
        t,
        ingest,
        training,
        footprint,
        bench,
        page_cost or {},
        driver_growth(results),
        lean_replica(results),
        measured_at_size(results, t.photos),
    )
    return "\n".join(out) + "\n"


def measured_at_size(results: dict, documents: int) -> dict:
    """The rows measured at the plan's size itself: the node of replicas with the most
    replicas (``scale-node``) and the query latency (``scale-query``); absent when not run."""
    nodes = [r for r in results.get("node", {}).values() if r["documents"] == documents]
    query = results.get("query", {}).get(str(documents))
    return {
        **({"node": max(nodes, key=lambda r: r["replicas"])} if nodes else {}),
        **({"query": query} if query else {}),
    }


BUILD_MODES = {
    "build-streamed": "streamed (the build)",
    "build-in-memory": "holding every document",
}


def _build_driver(results: dict) -> list[str]:
    """The build driver's peak memory by collection size, streamed and holding every document
    (``scale-build``)."""
    out = ["## Build driver memory (measured, `python -m core scale-build`)", ""]
    rows = [(mode, r) for mode in BUILD_MODES for r in results.get(mode, {}).values()]
    if not rows:
        return [*out, "Not measured yet: run `python -m core scale-build`.", ""]
    out += [
        "A build of synthetic text-only documents (drawn from a built version's, no photos) in a "
        "child process: its Python allocations at their peak (tracemalloc) and its peak RSS.",
        "",
        "| documents | driver | peak Python allocations | peak RSS | s | load avg | measured at |",
        "|---|---|---|---|---|---|---|",
    ]
    for mode, r in sorted(rows, key=lambda row: (row[1]["documents"], row[0])):
        out.append(
            f"| {r['documents']:,} | {BUILD_MODES[mode]} | {_mb(r['traced_peak_bytes'])} "
            f"| {_mb(r['peak_rss_bytes'])} | {r['seconds']:.0f} "
            f"| {r['load_average_at_start']:.1f} | {r['measured_at']} |"
        )
    return [*out, ""]


def driver_growth(results: dict) -> tuple[float, int, float] | None:
    """(bytes per document, largest size, its peak) of the streamed build's driver, from its two
    largest measured sizes; None without two."""
    sizes = sorted(results.get("build-streamed", {}).values(), key=lambda r: r["documents"])
    if len(sizes) < 2:
        return None
    small, large = sizes[-2], sizes[-1]
    slope = (large["traced_peak_bytes"] - small["traced_peak_bytes"]) / (
        large["documents"] - small["documents"]
    )
    return slope, large["documents"], float(large["traced_peak_bytes"])


def lean_replica(results: dict) -> dict | None:
    """The largest measured lean replica: its documents and own heap (bytes); None if none."""
    rows = [r for r in results.get("replica", {}).values() if "lean" in r]
    if not rows:
        return None
    largest = max(rows, key=lambda r: r["documents"])
    return {
        "documents": largest["documents"],
        "heap_bytes": largest["lean"]["resident_anonymous_mb"] * 1e6,
    }


def _ranking_at_scale(query: dict) -> list[str]:
    """The default ranking's latency per query kind on synthetic versions (``scale-query``)."""
    out = ["## The default ranking at scale (measured, `python -m core scale-query`)", ""]
    if not query:
        return [*out, "Not measured yet: run `python -m core scale-query --documents N`.", ""]
    rows = sorted(query.values(), key=lambda r: r["documents"])
    out += [
        "Synthetic documents drawn like the built version's (each theta its source document's "
        "with noise), searched on one core of a fresh process through `SearchEngine.search` "
        f"with the version's ranking ({rows[-1]['ranking']}); recall@10 against the same "
        "ranking scoring every document. A photo's CNN read is cached (its time does not grow "
        "with the collection: `reports/bench.md`). Rows marked * were measured before "
        "`scale-query` pinned every thread: numpy's BLAS threads ran on the second core too.",
        "",
        "| documents | query | p50 ms | p95 ms | recall@10 (a photo's: also its annotation's 5 "
        "neighbours) | load avg | measured at |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        for kind in ("text", "photo", "both"):
            if kind not in r:
                continue
            row = {key: r[key] for key in ("load_average_at_end", "measured_at")} | r[kind]
            kind_cell = kind if row.get("one_core") else f"{kind} *"
            out.append(
                f"| {r['documents']:,} | {kind_cell} | {row['p50_ms']:.1f} | {row['p95_ms']:.1f} "
                f"| {_recall(row)} | {row['load_average_at_end']:.1f} | {row['measured_at']} |"
            )
    return [*out, ""]


def _recall(row: dict) -> str:
    """recall@10, and over how many of the queries when not all (``--recall-queries``)."""
    if row["recall_at_10"] is None:
        return "not measured"
    measured = row.get("recall_queries", row["queries"])
    neighbours = row.get("neighbour_recall_at_5")
    return (
        f"{row['recall_at_10']:.2f}"
        + (f" ({measured} of {row['queries']})" if measured < row["queries"] else "")
        + (f"; annotation's neighbours {neighbours:.2f}" if neighbours is not None else "")
    )


def _node(node: dict, written: dict) -> list[str]:
    """Replicas started together on one node (``scale-node``), and what writing the version
    they serve took (``scale-version``)."""
    out = ["## A node of replicas (measured, `python -m core scale-node`)", ""]
    if not node:
        return [*out, "Not measured yet: run `python -m core scale-node --version DIR`.", ""]
    out += [
        "Replicas of one synthetic version (`python -m core scale-version`) started together, "
        "each in its own process; once each has loaded, warmed up and answered words, photos "
        "and both, the node's resident memory counts the pages they share (records, counts and "
        "index, mapped) once: the sum of their proportional sets. Own heap is each replica's "
        "anonymous memory; disk is the version's files.",
        "",
        "| documents | replicas | node resident GB | own heap GB, each | resident GB, each "
        "| start + answers s, each | disk GB | load avg | measured at |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(node.values(), key=lambda r: (r["documents"], r["replicas"])):

        def each(field: str, digits: int, r: dict = r) -> str:
            return ", ".join(f"{replica[field]:.{digits}f}" for replica in r["each"])

        out.append(
            f"| {r['documents']:,} | {r['replicas']} | {r['node_rss_gb']:.2f} "
            f"| {each('anonymous_gb', 2)} | {each('rss_gb', 2)} "
            f"| {each('until_queries_answered_seconds', 0)} "
            f"| {sum(r['bytes_on_disk'].values()) / 1e9:.1f} "
            f"| {r['load_average_at_end']:.1f} | {r['measured_at']} |"
        )
    for r in sorted(written.values(), key=lambda r: r["documents"]):
        load = f"load {r['load_average_at_end']:.1f}, " if "load_average_at_end" in r else ""
        out += [
            "",
            f"Writing the version of {r['documents']:,} documents (`scale-version`) took "
            f"{r['write_seconds'] / 60:,.0f} min with a peak RSS of {_gb(r['peak_rss_bytes'])} "
            f"({load}{r['measured_at']}; the writer's ru_maxrss). The token counts are "
            "written in two passes over the documents, a buffer of entries at a time.",
        ]
    return [*out, ""]


def _replica_start(replica: dict) -> list[str]:
    """A replica's start time and memory, lean and as before (``scale-replica``)."""
    out = ["## Replica start and memory (measured, `python -m core scale-replica`)", ""]
    if not replica:
        return [*out, "Not measured yet: run `python -m core scale-replica --documents N`.", ""]
    out += [
        "A fresh process loads a synthetic version, warms it up and answers a few queries; "
        "'as before' parses every record into memory, 'lean' maps records and token counts. "
        "Own heap is memory no other replica shares; mapped files are shared by a node's "
        "replicas through the page cache.",
        "",
        "| documents | replica | load s | load + warm-up s | own heap MB | mapped MB "
        "| load avg | measured at |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(replica.values(), key=lambda r: r["documents"]):
        out += [
            f"| {r['documents']:,} | {kind} | {r[kind]['load_seconds']:.2f} "
            f"| {r[kind]['load_and_warm_up_seconds']:.1f} "
            f"| {r[kind]['resident_anonymous_mb']:,.0f} | {r[kind]['resident_file_mb']:,.0f} "
            f"| {r['load_average_at_end']:.1f} | {r['measured_at']} |"
            for kind in ("before", "lean")
            if kind in r
        ]
    return [*out, ""]


def _capacity_plan(
    t: CapacityTargets,
    ingest: dict,
    training: dict,
    footprint: dict | None,
    bench: dict,
    page_cost: dict,
    streamed: tuple[float, int, float] | None = None,
    lean: dict | None = None,
    at_size: dict | None = None,
) -> list[str]:
    """``at_size``: rows measured at ``t.photos`` (``measured_at_size``), which replace the
    estimates of a node's memory and of a query's time."""
    at_size = at_size or {}
    out = [
        f"## Capacity plan: {t.photos:,} photos, {t.queries_per_second:.0f} queries per second "
        "(estimates)",
        "",
    ]
    if not (ingest and training and footprint):
        return [*out, "Needs the ingest, training and footprint measurements above.", ""]
    limits: list[tuple[float, str]] = []  # (need / what one node has, what)

    # Ingest
    cpu_per_image = min(r["worker_cpu_seconds"] / r["images"] for r in ingest.values())
    node_rate = t.node_cores / cpu_per_image
    measured_rate = max(r["images_per_second"] for r in ingest.values())
    nodes = int(np.ceil(t.photos / (node_rate * 3600 * t.ingest_hours)))
    hours = t.photos / (node_rate * nodes * 3600)
    worker_rss = max(max(r["worker_rss_bytes"]) for r in ingest.values())
    out += [
        "### Ingest",
        "",
        f"- A photo costs {cpu_per_image:.3f} CPU s on a worker (measured, lowest row above), "
        f"so a dedicated {t.node_cores}-core node ingests {t.node_cores} / {cpu_per_image:.3f} "
        f"= {node_rate:.1f} images/s (the shared machine, busy with other work, gave "
        f"{measured_rate:.1f} images/s wall). "
        f"{t.photos:,} / ({node_rate:.1f} x 3,600 x {t.ingest_hours:.0f} h) = "
        f"**{nodes} worker nodes** ({nodes * t.node_cores} Dask worker processes of one thread) "
        f"to finish in a day: {hours:.1f} h. Each worker process holds TensorFlow and the CNN: "
        f"{_mb(worker_rss)} RSS (measured).",
        f"- The scheduler gets {int(np.ceil(t.photos / 64)):,} batch tasks of 64 photos (a few "
        "ms of scheduling each); photos are read by the workers from shared storage, and the "
        "image cache (content-addressed) on shared storage makes a rebuild skip the CNN.",
        "",
    ]

    # Driver memory and training
    per_doc = footprint["python_bytes_per_document"]
    if streamed:
        slope, largest_build, peak = streamed
        driver = peak + slope * (t.photos - largest_build)
        driver_text = (
            f"- The build streams each ingested batch to a shard on disk and its driver keeps "
            f"counts, but it still grows by {slope / 1024:.1f} KB per document (measured above, "
            f"streamed, between the two largest sizes: the records, the thetas and the word "
            f"pairs' counts no longer stay in the driver; its peak is the translations' merge "
            f"of the distinct word pairs, which grow with the collection): {_mb(peak)} at "
            f"{largest_build:,} + {slope / 1024:.1f} KB x ({t.photos:,} - {largest_build:,}) = "
            f"**{_gb(driver)}**, against {_gb(footprint['machine_memory_bytes'])} on this machine."
        )
    else:
        driver = per_doc * t.photos
        driver_text = (
            f"- The build's driver keeps every document's token bags in memory: "
            f"{per_doc / 1024:.1f} KB per document (measured, Python objects) x {t.photos:,} = "
            f"**{_gb(driver)}**, against {_gb(footprint['machine_memory_bytes'])} on this "
            "machine."
        )
    limits.append((driver / footprint["machine_memory_bytes"], "build driver memory"))
    largest = training[max(training, key=int)]
    pass_cpu = float(np.mean(largest["pass_cpu_seconds"]))
    pass_wall = float(np.mean(largest["pass_seconds"]))
    scale = t.photos / largest["documents"]
    params = ModelParams()
    per_pass_node = pass_cpu * scale / t.node_cores
    training_hours = per_pass_node * params.passes / 3600
    limits.append((training_hours / t.ingest_hours, "training time on one node"))
    out += [
        "### Build driver and training",
        "",
        driver_text,
        f"- Training reads batches from disk, so its memory does not grow with the collection "
        f"(peak RSS above); time does: {pass_cpu:,.0f} CPU s per pass at "
        f"{largest['documents']:,} documents (measured; {pass_wall:,.0f} s wall on the shared "
        f"machine) x {scale:,.0f} / {t.node_cores} cores = {per_pass_node / 3600:.1f} h per pass; "
        f"x {params.passes} passes (the default) = **{training_hours:.0f} h** on one "
        f"{t.node_cores}-core node. BigARTM's processors use every core of one machine, so a "
        f"32-core node would take about {training_hours * t.node_cores / 32:.0f} h (estimate: "
        "linear in cores), and fewer passes (online training) would cut it further.",
        "",
    ]

    # Model and index per replica
    vocabulary = {}
    for modality, growth in footprint["vocabulary_growth"].items():
        grown = (
            growth["vocabulary"] * (t.photos / footprint["documents"]) ** growth["heaps_exponent"]
        )
        vocabulary[modality] = min(grown, t.vocabulary_cap)
    phi_bytes = sum(vocabulary.values()) * footprint["num_topics"] * 8
    index_bytes = footprint["index_bytes_per_document"] * t.photos
    index_rows = _default_index_rows(bench)
    if index_rows:
        biggest = max(index_rows, key=lambda r: r["documents"])
        per_document = biggest["memory_mb"] * 2**20 / biggest["documents"]
        index_bytes = max(index_bytes, per_document * t.photos)
    records = per_doc * t.photos
    replica = phi_bytes + index_bytes + records
    counts_bytes = footprint.get("ranking_counts_bytes_per_document", 0) * t.photos
    lean_text = []
    if lean:
        heap_per_document = lean["heap_bytes"] / lean["documents"]
        own = phi_bytes + heap_per_document * t.photos
        replica = t.replicas_per_node * own + index_bytes + counts_bytes
        lean_text = [
            f"- A lean replica (measured above, `scale-replica`) maps the records, the token "
            f"counts and the index; a node's replicas share them through the page cache. Its "
            f"own memory: phi {_gb(phi_bytes)} + its heap, {_mb(lean['heap_bytes'])} at "
            f"{lean['documents']:,} documents x {t.photos / lean['documents']:,.0f} = "
            f"{_gb(heap_per_document * t.photos)} (an upper bound: the heap measured includes "
            f"TensorFlow and the backbone, which do not grow) = {_gb(own)}. A node of "
            f"{t.replicas_per_node} replicas answers from memory with {t.replicas_per_node} x "
            f"{_gb(own)} + the index {_gb(index_bytes)} + the ranking's counts "
            f"{_gb(counts_bytes)} = **{_gb(replica)}**."
        ]
    node = at_size.get("node")
    if node:
        disk = node["bytes_on_disk"]
        heaps = sum(replica["anonymous_gb"] for replica in node["each"]) * 1e9
        read = disk["index"] + disk["tokens"]  # what queries read: index and counts, all of it
        replica = read + heaps + node["replicas"] * phi_bytes
        lean_text = [
            f"- **Measured at {node['documents']:,} documents** (`scale-node`, above): "
            f"{node['replicas']} replicas resident together "
            f"{_gb(node['node_rss_gb'] * 1e9)} once each had answered words, photos and both "
            f"(own heap {_gb(heaps / node['replicas'])} each; shared pages counted once). That "
            f"is what a few queries made resident: the files the replicas map hold "
            f"{_gb(sum(disk.values()))}, and queries over a day read all of the index "
            f"({_gb(disk['index'])}: every topic's column, every document's theta) and of the "
            f"token counts ({_gb(disk['tokens'])}: every word's column), while the records "
            f"({_gb(disk['documents'] + disk['document_maps'])}) are read only for the hits "
            f"shown. A node that answers from memory needs {_gb(disk['index'])} + "
            f"{_gb(disk['tokens'])} + the heaps {_gb(heaps)} + phi {_gb(phi_bytes)} for each "
            f"replica (the synthetic version keeps its source's small vocabulary; a real "
            f"collection's phi is estimated above) = **{_gb(replica)}**; with less, the page "
            "cache reads the rest from disk at every miss."
        ]
    limits.append((replica / footprint["machine_memory_bytes"], "serving replica memory"))
    growth_text = "; ".join(
        f"{m}: {g['vocabulary']:,} x ({t.photos:,} / {footprint['documents']})^"
        f"{g['heaps_exponent']:.2f} -> {vocabulary[m]:,.0f}"
        for m, g in footprint["vocabulary_growth"].items()
    )
    out += [
        "### Model and index per replica",
        "",
        f"- Vocabulary by Heaps' law fitted on the built version (exponents measured), capped "
        f"at {t.vocabulary_cap:,} per modality by pruning rare tokens: {growth_text}.",
        f"- phi: {sum(vocabulary.values()):,.0f} tokens x {footprint['num_topics']} topics x 8 "
        f"bytes = **{_gb(phi_bytes)}**.",
        f"- Index (document thetas, memory-mapped, so the replicas of one node share one copy): "
        f"{footprint['index_bytes_per_document']:,.0f} bytes per document (measured) x "
        f"{t.photos:,} = **{_gb(index_bytes)}** (or the default index's measured size per "
        "document, when larger).",
        f"- Document records (ids, texts, tags, token bags): {per_doc / 1024:.1f} KB x "
        f"{t.photos:,} = {_gb(records)} as Python objects (a replica that parsed them all)"
        f". Of these, the likelihood ranking needs only each document's token counts, as a "
        "sparse matrix: "
        + (
            f"{footprint['ranking_counts_bytes_per_document']:,.0f} bytes per document "
            f"(measured: distinct tokens x {SPARSE_ENTRY_BYTES} bytes) x {t.photos:,} = "
            f"{_gb(footprint['ranking_counts_bytes_per_document'] * t.photos)}."
            if "ranking_counts_bytes_per_document" in footprint
            else "not measured yet (rerun `python -m core scale-footprint`)."
        ),
        *(lean_text or [f"- Per replica: **{_gb(replica)}**; per node, the index counts once."]),
        "",
    ]

    # Replicas
    slowest = {
        e["documents"]: max(e["latency"]["text"]["p50_ms"], e["latency"]["photo"]["p50_ms"])
        for e in bench.get("latency_scaled", [])
    }
    index_of = {e["documents"]: e.get("index", "?") for e in bench.get("latency_scaled", [])}
    measured = at_size.get("query")
    if measured:
        kinds = ("text", "photo", "both")
        query_ms = max(measured[kind]["p50_ms"] for kind in kinds)
        slowest_kind = max(kinds, key=lambda kind: measured[kind]["p50_ms"])
        page_ms = page_cost.get("warm_page_server_cpu_ms") or 0.0
        per_query = query_ms + page_ms
        cores = t.queries_per_second * per_query / 1000 / t.replica_utilization
        replicas = int(np.ceil(cores))
        slowest_p95 = max(measured[kind]["p95_ms"] for kind in kinds)
        limits.append((slowest_p95 / t.query_p95_ms, "query latency on one core"))
        out += [
            "### App replicas",
            "",
            f"- A query at {measured['documents']:,} documents (measured, `scale-query` above, "
            f"one core, the default ranking): p50 {query_ms:,.0f} ms for the slowest kind "
            f"({slowest_kind}); + {page_ms:.0f} ms of server CPU per warm search page "
            f"(`reports/page_cost.json`) = {per_query:,.0f} ms of CPU per query.",
            f"- {t.queries_per_second:.0f} q/s x {per_query / 1000:.3f} s / "
            f"{t.replica_utilization} utilization = {cores:,.1f} cores: **{replicas:,} "
            f"replicas**, {int(np.ceil(replicas / t.node_cores)):,} {t.node_cores}-core nodes "
            "by CPU, behind a proxy with sticky sessions.",
            "",
        ]
    elif len(slowest) >= 2:
        small, large = sorted(slowest)[-2:]
        per_document = (slowest[large] - slowest[small]) / (large - small)
        query_ms = slowest[large] + per_document * (t.photos - large)
        page_ms = page_cost.get("warm_page_server_cpu_ms")
        per_query = query_ms + (page_ms or 0.0)
        cores = t.queries_per_second * per_query / 1000 / t.replica_utilization
        replicas = int(np.ceil(cores))
        out += [
            "### App replicas",
            "",
            f"- A query (p50 of the slower of text and photo, index `{index_of[large]}`, "
            f"measured) takes "
            f"{slowest[small]:.1f} ms at {small:,} documents and {slowest[large]:.1f} ms at "
            f"{large:,}; growing linearly from there: {slowest[large]:.1f} + "
            f"({slowest[large]:.1f} - {slowest[small]:.1f}) / ({large:,} - {small:,}) x "
            f"({t.photos:,} - {large:,}) = {query_ms:.1f} ms at {t.photos:,} documents"
            + (
                f"; + {page_ms:.0f} ms of server CPU per warm search page (measured, "
                "`reports/page_cost.json`; it includes a search on the small collection, so "
                "this counts that part twice: an upper bound)"
                if page_ms
                else " (the page's own server CPU, `reports/page_cost.json`, is missing: "
                "not included)"
            )
            + f" = {per_query:.0f} ms of CPU per query.",
            f"- {t.queries_per_second:.0f} q/s x {per_query / 1000:.3f} s / "
            f"{t.replica_utilization} utilization = {cores:.1f} cores: **{replicas} replicas** "
            f"(one Streamlit process per core), {int(np.ceil(replicas / t.node_cores))} "
            f"{t.node_cores}-core nodes by CPU, behind a proxy with sticky sessions.",
            "",
        ]

    # PostgreSQL
    per_day = t.queries_per_second * 86_400
    votes = per_day * t.votes_per_search
    search_growth = per_day * t.search_row_bytes + votes * t.vote_row_bytes
    document_rows = t.photos * (
        footprint["documents_jsonl_bytes_per_document"] + t.document_row_overhead_bytes
    )
    out += [
        "### PostgreSQL",
        "",
        "- Holds: model versions and their topics, terms and documents (one row per document "
        "per version), live modality weights, users, roles and the audit log, the jobs table "
        "and worker heartbeats, and every search with its votes. Model files (phi, index) live "
        "in the shared model store, not in the database.",
        f"- Searches: {t.queries_per_second:.0f} q/s all day = {per_day:,.0f} searches/day x "
        f"{t.search_row_bytes} bytes (assumed: text, image hash, weights, version, latency, "
        f"10 result ids, row and index overhead) + {votes:,.0f} votes/day (assumed "
        f"{t.votes_per_search:.0%} of searches) x {t.vote_row_bytes} bytes = "
        f"**{_gb(search_growth)} per day**, {_gb(search_growth * 365)} per year: partition "
        "`searches` by month and archive old partitions.",
        f"- Documents: {t.photos:,} x ({footprint['documents_jsonl_bytes_per_document']:,.0f} "
        f"bytes per record of the version's documents.jsonl, measured, an upper bound since the "
        f"table does not hold the token bags, + {t.document_row_overhead_bytes} bytes of row "
        f"overhead, assumed) = **{_gb(document_rows)} per model version**: delete old versions "
        "(the admin panel does) rather than keep them all.",
        "",
    ]

    limits.sort(reverse=True)
    ratio, what = limits[0]
    out += [
        "### First bottleneck",
        "",
        "What does not scale out by adding nodes, as a multiple of what one node has (memory "
        f"of this machine, {t.ingest_hours:.0f} h for time):",
        "",
        *[f"- {name}: {value:.1f}x" for value, name in limits],
        "",
        f"The first bottleneck is **{what}** ({ratio:.1f}x). The ingest, the replicas and "
        "PostgreSQL's growth scale out or are plain storage; the build driver and BigARTM's "
        "training run in one process on one node, and every replica holds a whole version.",
        "",
        "What would lift each:",
        "",
        *[f"- {name}: {REMEDIES[name]}" for _, name in limits],
        "",
    ]
    return out


def write_report(reports: Path) -> Path:
    """Renders ``reports/scale.md`` from ``scale.json`` and ``bench.json``."""
    path = reports / RESULTS_FILE
    results = json.loads(path.read_text()) if path.is_file() else {}
    bench_path = reports / "bench.json"
    bench = json.loads(bench_path.read_text()) if bench_path.is_file() else {}
    page_path = reports / "page_cost.json"
    page_cost = json.loads(page_path.read_text()) if page_path.is_file() else {}
    target = reports / "scale.md"
    target.write_text(render_report(results, bench, page_cost=page_cost))
    return target
