"""The benchmark scripts' own logic (no timing asserted: benchmarks are scripts, not timed tests)."""

from __future__ import annotations

import sys
import types

from bench.distractors import html_to_markdown, parse_sizes
from bench.measure import run_child, timed_calls
from bench.results import goal_rows, render_markdown

PAGE = b"""<html><body>
<div class="navheader"><a href="prev.html">Prev</a> <a href="next.html">Next</a></div>
<div class="sphinxsidebar"><ul><li>Table of contents</li></ul></div>
<div role="main"><h1>Logging HOWTO<a class="headerlink" href="#x">\xc2\xb6</a></h1>
<p>Logging is a means of tracking events.</p>
<ul><li><p>First item paragraph.</p></li><li>Second item</li></ul>
<pre># a comment
print("hi")</pre></div>
<div class="navfooter">Home</div></body></html>"""


def test_html_to_markdown_keeps_the_main_text_and_drops_navigation():
    text = html_to_markdown(PAGE)
    assert text.startswith("# Logging HOWTO\n\n")
    assert "Logging is a means of tracking events." in text
    assert "First item paragraph." in text and "- Second item" in text
    assert '\n\na comment print("hi")' in text  # a code comment does not become a heading
    for noise in ("Prev", "Next", "Table of contents", "Home", "\u00b6"):
        assert noise not in text


def test_parse_sizes_reads_plain_numbers_and_k_suffixes():
    assert parse_sizes("0,10000,100k") == [0, 10000, 100000]
    assert parse_sizes(" 2k ,") == [2000]


def test_timed_calls_counts_calls_and_restores_the_original():
    module = types.SimpleNamespace(work=lambda x: x * 2)
    original = module.work
    with timed_calls(module, ["work"]) as times:
        assert module.work(3) == 6
        module.work(4)
    assert times.calls["work"] == 2 and times.seconds["work"] >= 0
    assert module.work is original


def test_run_child_reports_the_childs_own_peak_memory():
    run = run_child([sys.executable, "-c", "b = bytearray(300 * 2**20); b[::4096] = b'x' * len(b[::4096]); print(1)"])
    assert run.returncode == 0 and run.stdout.strip() == "1"
    assert run.peak_rss_mb >= 300


def _growth_size(p50: float, accuracy: float, rss: int) -> dict:
    ingest = {"documents": 2, "chunks": 100, "sentences": 150, "ingest_s": 10.0, "chunks_per_s": 10.0,
              "sentences_per_s": 15.0, "phases_s": {"chunking": 1, "embedding": 8, "chroma writes": 0.5, "catalog": 0.5},
              "peak_rss_mb": 900}
    turn = {"turn": {"p50_ms": p50, "p95_ms": 2 * p50}, "bare_search": {"p50_ms": 10.0}, "ratio_p50": p50 / 10,
            "stages": {"embed": 5.0, "BM25": 1.0, "total (ask)": p50, "unaccounted": 0.0}}
    return {"total_chunks": 100, "rss_mb": rss - 100, "peak_rss_mb": rss, "turn": turn, "ingest": ingest,
            "eval": {"answer_accuracy": accuracy, "citation_accuracy": 0.8, "abstention_f1": 0.9}, "date": "2026-11-25"}


def test_goals_compare_the_largest_size_with_the_article_alone():
    machine = {"date": "2026-11-25T10:00:00+00:00", "nproc": 2, "cpu": "x", "ram_gib": 23.4, "python": "3.11.7",
               "load_avg_1m": 1.0, "commit": "abc"}
    results = {"sections": {"growth": {"command": "python -m bench.growth", "machine": machine,
                                       "source": {"description": "docs"},
                                       "sizes": {"0": _growth_size(20.0, 0.90, 700),
                                                 "100000": _growth_size(70.0, 0.87, 2500)}}}}
    rows = {row[0].split(" ")[0] + row[0].split(" ")[1]: row for row in goal_rows(results)}
    assert rows["turnp50"][1] == "3.5×" and "missed" in rows["turnp50"][2]
    assert rows["answeraccuracy"][1] == "drop 0.030" and "missed" in rows["answeraccuracy"][2]
    assert rows["RSS≤"][1] == "2500 MiB" and "missed" in rows["RSS≤"][2]
    assert "| +100,000 |" in render_markdown(results)


def test_rewriting_results_keeps_sections_other_scripts_marked(tmp_path, monkeypatch):
    import bench.results as results

    monkeypatch.setattr(results, "RESULTS_MD", tmp_path / "results.md")
    monkeypatch.setattr(results, "RESULTS_JSON", tmp_path / "results.json")
    monkeypatch.setattr(results, "RESULTS_PNG", tmp_path / "results.png")
    (tmp_path / "results.md").write_text("# old\n\n<!-- load:start -->\n## Load\nkept\n<!-- load:end -->\n")
    machine = {"date": "2026-11-25", "nproc": 2, "cpu": "x", "ram_gib": 23.4, "python": "3.11.7",
               "load_avg_1m": 1.0, "commit": "abc"}
    results.record("growth", {"sizes": {"0": _growth_size(20.0, 0.9, 700)}, "source": {"description": "d"}},
                   "python -m bench.growth", machine)
    text = (tmp_path / "results.md").read_text()
    assert text.startswith("# Benchmarks") and "<!-- load:start -->\n## Load\nkept\n<!-- load:end -->" in text
    assert (tmp_path / "results.png").stat().st_size > 0


def test_a_benchmarks_section_is_replaced_in_place_and_the_others_kept(tmp_path):
    from bench.results import write_section

    path = tmp_path / "results.md"
    write_section("<!-- a:start -->\none\n<!-- a:end -->", "<!-- a:start -->", "<!-- a:end -->", path)
    write_section("<!-- b:start -->\ntwo\n<!-- b:end -->", "<!-- b:start -->", "<!-- b:end -->", path)
    write_section("<!-- a:start -->\nthree\n<!-- a:end -->", "<!-- a:start -->", "<!-- a:end -->", path)
    assert path.read_text(encoding="utf-8") == ("# Benchmarks\n\n<!-- a:start -->\nthree\n<!-- a:end -->\n\n"
                                                "<!-- b:start -->\ntwo\n<!-- b:end -->\n")
