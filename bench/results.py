"""The benchmark record: bench/results.json (every part's latest numbers, committed) rendered as
bench/results.md (tables, commands, dates, machine facts, goals) and bench/results.png.

Each part merges its own section, so running one part keeps the others' earlier numbers, each shown
with the date and command that produced it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from bench.measure import REPO_ROOT

RESULTS_JSON = REPO_ROOT / "bench" / "results.json"
RESULTS_MD = REPO_ROOT / "bench" / "results.md"
RESULTS_PNG = REPO_ROOT / "bench" / "results.png"
FULL_GROWTH_COMMAND = "python -m bench.growth --sizes 0,10000,100000"

GOALS = {
    "turn_ratio": 1.2,  # full turn p50 / bare similarity search p50
    "growth_latency": 3.0,  # turn p50 at ~100k chunks / at the article alone
    "ingest_chunks_per_s": 150,
    "rss_mb_at_100k": 2048,
    "accuracy_drop_at_100k": 0.02,
}


def load() -> dict:
    if RESULTS_JSON.exists():
        return json.loads(RESULTS_JSON.read_text(encoding="utf-8"))
    return {"sections": {}}


def record(section: str, result: dict, command: str, machine: dict) -> None:
    """Merge ``result`` as ``section`` (growth sizes and ingest runs merge one by one) and rewrite the
    .json, .md and .png."""
    results = load()
    entry = {"command": command, "machine": machine, **result}
    for keyed in ("sizes", "runs"):  # growth sizes and ingest runs merge one by one
        if isinstance(result.get(keyed), dict) and section in results["sections"]:
            merged = {**results["sections"][section].get(keyed, {}), **result[keyed]}
            entry = {**results["sections"][section], **entry,
                     keyed: dict(sorted(merged.items(), key=lambda kv: int(kv[0])))}
    results["sections"][section] = entry
    RESULTS_JSON.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    RESULTS_MD.write_text(render_markdown(results) + _foreign_sections(), encoding="utf-8")
    plot(results, RESULTS_PNG)
    print(f"recorded {section} in {RESULTS_MD} and {RESULTS_PNG.name}")


# --- markdown ---------------------------------------------------------------------------------

# Other scripts (bench/load.py) keep their own section between <!-- name:start --> / <!-- name:end -->.
_FOREIGN = re.compile(r"<!-- (?P<name>[\w-]+):start -->.*?<!-- (?P=name):end -->", re.S)


def _foreign_sections() -> str:
    """The marked sections other scripts wrote into results.md, kept when this module rewrites it."""
    if not RESULTS_MD.exists():
        return ""
    blocks = [m.group(0) for m in _FOREIGN.finditer(RESULTS_MD.read_text(encoding="utf-8"))]
    return "".join("\n" + block + "\n" for block in blocks)


def _table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join("" if v is None else str(v) for v in row) + " |" for row in rows]
    return lines + [""]


def _provenance(entry: dict) -> list[str]:
    m = entry["machine"]
    facts = (f"{m['date']} · {m['nproc']} cores ({m['cpu']}) · {m['ram_gib']} GiB RAM · Python {m['python']}"
             + (f" · torch {m['torch']} with {m['torch_threads']} threads" if "torch_threads" in m else "")
             + f" · load average {m['load_avg_1m']}"
             + (f", a busy loop got {m['cpu_share']:.0%} of a core" if "cpu_share" in m else "")
             + f" · commit {m['commit']}")
    return [f"`{entry['command']}` — {facts}", ""]


def _load(entry: dict) -> str:
    m = entry["machine"]
    return f"load average {m['load_avg_1m']}" + (f", busy loop {m['cpu_share']:.0%} of a core" if "cpu_share" in m else "")


def _verdict(value, goal, lower_is_better: bool = True) -> str:
    if value is None:
        return "not measured"
    ok = value <= goal if lower_is_better else value >= goal
    return "**met**" if ok else "**missed**"


def goal_rows(results: dict) -> list[list]:
    s = results["sections"]
    rows = []
    turn = s.get("turn")
    ratio = turn["ratio_p50"] if turn else None
    rows.append([f"full turn p50 ≤ {GOALS['turn_ratio']}× bare similarity search", f"{ratio}×" if ratio else "—",
                 _verdict(ratio, GOALS["turn_ratio"])])
    sizes = s.get("growth", {}).get("sizes", {})
    base, big = sizes.get("0"), sizes.get("100000")
    mid = sizes.get("10000")
    growth = round(big["turn"]["turn"]["p50_ms"] / base["turn"]["turn"]["p50_ms"], 2) if base and big else None
    growth_mid = round(mid["turn"]["turn"]["p50_ms"] / base["turn"]["turn"]["p50_ms"], 2) if base and mid else None
    rows.append([f"turn p50 at ~100k chunks ≤ {GOALS['growth_latency']:g}× the article alone",
                 f"{growth}×" if growth else f"— (at ~10k: {growth_mid}×)" if growth_mid else "—",
                 _verdict(growth, GOALS["growth_latency"])])
    rates = [(run["chunks"], run["chunks_per_s"], f"+{int(k):,} ingest run, {_load(run)}")
             for k, run in s.get("ingest", {}).get("runs", {}).items() if int(k) > 0]
    rates += [(run["ingest"]["chunks"], run["ingest"]["chunks_per_s"],
               f"+{int(k):,} growth run" + (f", {_load(run['ingest'])}" if "machine" in run["ingest"] else ""))
              for k, run in sizes.items() if int(k) > 0]
    rate = max(rates)[1] if rates else None  # the largest run decides
    rows.append([f"ingest ≥ {GOALS['ingest_chunks_per_s']} chunks/s",
                 "; ".join(f"{r} chunks/s ({where})" for _, r, where in sorted(rates, reverse=True)) or "—",
                 _verdict(rate, GOALS["ingest_chunks_per_s"], lower_is_better=False)])
    rss = big["peak_rss_mb"] if big else None
    rows.append([f"RSS ≤ {GOALS['rss_mb_at_100k'] / 1024:g} GiB at ~100k chunks (peak of the answering process)",
                 f"{rss} MiB" if rss else (f"— (at ~10k: {mid['peak_rss_mb']} MiB)" if mid else "—"),
                 _verdict(rss, GOALS["rss_mb_at_100k"])])
    drop = (round(base["eval"]["answer_accuracy"] - big["eval"]["answer_accuracy"], 3) if base and big else None)
    drop_mid = (round(base["eval"]["answer_accuracy"] - mid["eval"]["answer_accuracy"], 3) if base and mid else None)
    rows.append([f"answer accuracy drops ≤ {GOALS['accuracy_drop_at_100k']} at ~100k chunks",
                 f"drop {drop:.3f}" if drop is not None else
                 (f"— (at ~10k: drop {drop_mid:.3f}, {base['eval']['answer_accuracy']:.3f} → "
                  f"{mid['eval']['answer_accuracy']:.3f})" if drop_mid is not None else "—"),
                 _verdict(drop, GOALS["accuracy_drop_at_100k"])])
    return rows


def render_markdown(results: dict) -> str:
    s = results["sections"]
    out = ["# Benchmarks", "",
           "Written by `python -m bench` (the cheap parts; `make bench` also builds the 10k distractor set) and "
           f"by each part alone (`python -m bench.turn`, `bench.web_latency`, `bench.coldstart`, `bench.ingest`, "
           f"`bench.growth`). The ~100k growth run is separate: `{FULL_GROWTH_COMMAND}`. Every number is a median "
           "(or p95) on a shared 2-core machine; ratios compare against a baseline measured in the same process, "
           "so they are steadier than the absolute times. Each section names the command, date and machine that "
           "produced it.", "", "## Goals", ""]
    out += _table(["goal", "measured", "verdict"], goal_rows(results))

    if "turn" in s:
        t = s["turn"]
        out += ["## 1. Answer turn in process", ""] + _provenance(t)
        out += [f"{t['questions']} questions of eval/qa.jsonl (with history) × {t['rounds']} rounds, interleaved, "
                f"query-embedding cache cleared before every turn; index of {t['chunks']} chunks.", ""]
        out += _table(["", "p50", "p95"], [
            ["`Assistant.ask` (full turn, cold)", f"{t['turn']['p50_ms']} ms", f"{t['turn']['p95_ms']} ms"],
            ["bare LangChain `Chroma.similarity_search(k=4)`", f"{t['bare_search']['p50_ms']} ms",
             f"{t['bare_search']['p95_ms']} ms"],
            ["ratio", f"**{t['ratio_p50']}×** (goal ≤ {GOALS['turn_ratio']}×)", f"{t['ratio_p95']}×"],
        ])
        total = t["stages"]["total (ask)"]
        out += ["Where a turn's time goes (medians of the stage timings in the Traces of the timed turns; the "
                "question stage runs on a helper thread while the retrieve stage embeds the query, so the stages "
                "can add up to more than the whole):", ""]
        out += _table(["stage", "median", "share"], [
            [name, f"{ms} ms", f"{100 * ms / total:.0f}%"] for name, ms in t["stages"].items() if name != "total (ask)"
        ] + [["total (`Assistant.ask`)", f"{total} ms", "100%"]])

    if "api" in s:
        a = s["api"]
        out += ["## 2. `/api/ask` round trip on loopback", ""] + _provenance(a)
        out += [f"{a['questions']} questions through the real app (uvicorn, FastAPI, Gradio mounted) and through "
                "`Assistant.ask` in the same process (bench/web_latency.py).", ""]
        out += _table(["", "p50", "p95"], [
            ["`POST /api/ask`", f"{a['http_median_ms']} ms", f"{a['http_p95_ms']} ms"],
            ["`Assistant.ask`", f"{a['library_median_ms']} ms", f"{a['library_p95_ms']} ms"],
            ["ratio", f"{a['ratio_median']}× (+{a['overhead_median_ms']} ms)", ""],
        ])
        out += [f"RSS of the serving process once warm {a['rss_warm_mb']} MiB; {a['answer_mismatches']} answer "
                "mismatches between the two paths (start-up time: see the cold start).", ""]

    if "coldstart" in s:
        c = s["coldstart"]
        out += ["## 3. Cold start", ""] + _provenance(c)
        out += [f"`{c['ask_command']}` in a fresh process, wall time from spawn to exit, median of {c['runs']}; "
                "the stages are the same start-up cut short at each step, each in its own fresh process.", ""]
        out += _table(["stage (cumulative, fresh process)", "median wall", "adds", "share of the answer"],
                      [[r["stage"], f"{r['wall_s']} s", f"{r['adds_s']} s", f"{r['share']:.0%}"] for r in c["stages"]])

    if "ingest" in s:
        out += ["## 4. Ingest", "",
                "From scratch into a fresh data folder, in a child process (peak RSS is its own); throughput is "
                "chunks (and sentences) per second of the `ingest` call, model load excluded. One forward pass "
                "per chunk gives its vector and its sentences' vectors (pooled from the same pass). Chroma writes "
                "one batch while the next is embedded, so the phases overlap (\"other\" can be negative).", ""]
        runs = s["ingest"]["runs"]
        out += _ingest_table([("corpus" if int(k) == 0 else f"corpus + {run['distractor_chunks']:,} distractor "
                               "chunks", run) for k, run in runs.items()])
        out += [f"- {('corpus' if int(k) == 0 else '+' + format(int(k), ',')) + ':'} " + _provenance(run)[0]
                for k, run in runs.items()] + [""]

    if "growth" in s:
        g = s["growth"]
        out += ["## 5. Growth with real distractors", ""] + _provenance(g)
        src = g.get("source", {})
        out += [f"Distractors: {src.get('description', '')}", "",
                "Each size is a fresh index in its own data folder under bench/out/growth/; the turn numbers and the "
                "RSS come from a separate process that holds only that index; eval scores are "
                "`eval.runner.run_eval` over all of eval/qa.jsonl against that index.", ""]
        rows = []
        for size, r in g["sizes"].items():
            e = r["eval"]
            rows.append([f"+{int(size):,}" if int(size) else "article only", f"{r['total_chunks']:,}",
                         r["turn"]["turn"]["p50_ms"], r["turn"]["turn"]["p95_ms"], r["turn"]["bare_search"]["p50_ms"],
                         f"{r['turn']['ratio_p50']}×", r["ingest"]["chunks_per_s"],
                         f"{r['rss_mb']} / {r['peak_rss_mb']}",
                         f"{e['answer_accuracy']:.3f}", f"{e['citation_accuracy']:.3f}", f"{e['abstention_f1']:.3f}",
                         f"{r.get('date', '')} {r.get('commit', '')}".strip()])
        out += _table(["distractors", "chunks", "turn p50 ms", "turn p95 ms", "bare p50 ms", "ratio",
                       "ingest chunks/s", "RSS MiB warm / peak", "answer acc.", "citation acc.", "abstention F1", "measured"], rows)
        out += ["Turn stages at each size (medians, ms):", ""]
        names = [n for n in next(iter(g["sizes"].values()))["turn"]["stages"] if n != "unaccounted"]
        out += _table(["distractors", *names], [
            [f"+{int(size):,}" if int(size) else "article only", *(r["turn"]["stages"].get(n, "—") for n in names)]
            for size, r in g["sizes"].items()])
        out += ["Ingest at each size (from scratch, in a child process):", ""]
        out += _ingest_table([(f"+{int(size):,}" if int(size) else "article only", r["ingest"])
                              for size, r in g["sizes"].items()])
        out += _estimate_lines(results)
    return "\n".join(out).rstrip() + "\n"


def _estimate_lines(results: dict) -> list[str]:
    """How long the ~100k ingest would take at the rates measured so far (quiet and loaded machine)."""
    s = results["sections"]
    sizes = s.get("growth", {}).get("sizes", {})
    if "100000" in sizes:
        return []
    runs = [(f"+{int(k):,} growth run" + (f", {_load(r['ingest'])}" if "machine" in r["ingest"] else ""), r["ingest"])
            for k, r in sizes.items() if int(k) > 0]
    runs += [(f"+{int(k):,} ingest run, {_load(r)}", r) for k, r in s.get("ingest", {}).get("runs", {}).items()
             if int(k) > 0]
    if not runs:
        return []
    lines = [f"Not yet measured at +100,000. Its ingest alone, at the rates measured so far (embedding is "
             f"{max(_embed_share(r) for _, r in runs):.0%} of ingest time):", ""]
    lines += [f"- {100_000 / r['chunks_per_s'] / 3600:.1f} h at {r['chunks_per_s']} chunks/s ({where})" for where, r in runs]
    return lines + ["", f"Run it with `{FULL_GROWTH_COMMAND} --reuse-index` (the +10k index is kept).", ""]


def _embed_share(ingest: dict) -> float:
    return ingest["phases_s"]["embedding"] / ingest["ingest_s"]


def _ingest_table(rows: list[tuple[str, dict]]) -> list[str]:
    return _table(["what", "documents", "chunks", "sentences", "ingest s", "chunks/s", "sentences/s",
                   "chunking s", "embedding s", "Chroma writes s", "catalog s", "peak RSS MiB"],
                  [[label, i["documents"], f"{i['chunks']:,}", f"{i['sentences']:,}", i["ingest_s"], i["chunks_per_s"],
                    i["sentences_per_s"], *(i["phases_s"].get(p) for p in ("chunking", "embedding", "chroma writes",
                                                                           "catalog")), round(i["peak_rss_mb"])]
                   for label, i in rows])


# --- plot -------------------------------------------------------------------------------------

def plot(results: dict, path: Path) -> None:
    """Four panels: turn vs bare search (and HTTP), the turn's stages, latency and accuracy vs index size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = results["sections"]
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5))
    ax = axes[0][0]
    bars = []
    if "turn" in s:
        bars += [("bare search", s["turn"]["bare_search"]), ("Assistant.ask", s["turn"]["turn"])]
    if "api" in s:
        bars += [("POST /api/ask", {"p50_ms": s["api"]["http_median_ms"], "p95_ms": s["api"]["http_p95_ms"]})]
    if bars:
        xs = range(len(bars))
        ax.bar([x - 0.2 for x in xs], [b["p50_ms"] for _, b in bars], 0.4, label="p50")
        ax.bar([x + 0.2 for x in xs], [b["p95_ms"] for _, b in bars], 0.4, label="p95")
        ax.set_xticks(list(xs), [name for name, _ in bars])
        ax.legend()
    ax.set_ylabel("ms")
    ax.set_title("One turn (article index)" + (f": {s['turn']['ratio_p50']}× bare search" if "turn" in s else ""))

    ax = axes[0][1]
    if "turn" in s:
        stages = {k: v for k, v in s["turn"]["stages"].items() if k not in ("total (ask)", "unaccounted")}
        ax.barh(list(stages), list(stages.values()), color="tab:orange")
        ax.invert_yaxis()
    ax.set_xlabel("median ms")
    ax.set_title("Where a turn's time goes")

    sizes = s.get("growth", {}).get("sizes", {})
    chunks = [r["total_chunks"] for r in sizes.values()]
    ax = axes[1][0]
    if sizes:
        ax.plot(chunks, [r["turn"]["turn"]["p50_ms"] for r in sizes.values()], "o-", label="turn p50")
        ax.plot(chunks, [r["turn"]["turn"]["p95_ms"] for r in sizes.values()], "o--", label="turn p95")
        ax.plot(chunks, [r["turn"]["bare_search"]["p50_ms"] for r in sizes.values()], "s-", label="bare search p50")
        ax.set_xscale("log")
        ax.legend()
    ax.set_xlabel("chunks in the index")
    ax.set_ylabel("ms")
    ax.set_title("Latency as the index grows")

    ax = axes[1][1]
    if sizes:
        for key, label in (("answer_accuracy", "answer accuracy"), ("citation_accuracy", "citation accuracy"),
                           ("abstention_f1", "abstention F1")):
            ax.plot(chunks, [r["eval"][key] for r in sizes.values()], "o-", label=label)
        ax.set_xscale("log")
        ax.set_ylim(0, 1.02)
        ax.legend(loc="lower left")
        twin = ax.twinx()
        twin.plot(chunks, [r["rss_mb"] for r in sizes.values()], "k:", marker="x", label="RSS MiB")
        twin.set_ylabel("RSS of the answering process, MiB (dotted)")
        twin.set_ylim(bottom=0)
    ax.set_xlabel("chunks in the index")
    ax.set_title("Quality and memory as the index grows")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_section(text: str, start: str, end: str, path: Path = RESULTS_MD) -> None:
    """Replace the text between the ``start`` and ``end`` markers of ``path`` with ``text`` (which carries
    the markers), or append it when they are absent; the rest of the file is kept."""
    current = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    block = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    updated = (block.sub(lambda _: text, current, count=1) if block.search(current)
               else current.rstrip("\n") + "\n\n" + text + "\n")
    path.write_text(updated, encoding="utf-8")
