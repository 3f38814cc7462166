"""`python -m bench`: the cheap parts in turn (about 5 minutes here, plus growth when its index exists).

1. the answer turn vs a bare similarity search (bench.turn), builds the index if missing;
2. `/api/ask` on loopback (bench.web_latency);
3. cold start of `python -m assistant ask --json` (bench.coldstart);
4. ingest of the corpus from scratch (bench.ingest);
5. growth at +0 / +10k distractor chunks (bench.growth --reuse-index), when the 10k distractor set has
   been built (`python -m bench.distractors --sizes 10000`; `make bench` does it).

Every part records its section in bench/results.md and bench/results.png. The full growth run:
`python -m bench.growth --sizes 0,10000,100000` (about 45 minutes on 2 cores: the 100k ingest is most of it).
"""

from __future__ import annotations

import argparse
import sys
import time

from bench.measure import offline_environment


def main(argv: list[str] | None = None) -> int:
    offline_environment()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: turn,api,coldstart,ingest,growth")
    args = parser.parse_args(argv)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}

    from bench import coldstart, growth, ingest, turn, web_latency
    from bench.distractors import DISTRACTOR_DIR
    from bench.results import FULL_GROWTH_COMMAND

    parts = [("turn", lambda: turn.main([])), ("api", lambda: web_latency.main([])),
             ("coldstart", lambda: coldstart.main([])), ("ingest", lambda: ingest.main([]))]
    if (DISTRACTOR_DIR / "10000" / "manifest.json").exists():
        parts.append(("growth", lambda: growth.main(["--sizes", "0,10000", "--reuse-index"])))
    elif "growth" not in skip:
        print("growth skipped: no 10k distractor set. Build it with `python -m bench.distractors --sizes 10000` "
              "(needs `make bench-corpus`), or run `make bench`.", file=sys.stderr)
    failed = []
    for name, run in parts:
        if name in skip:
            continue
        print(f"\n== {name} ==", flush=True)
        started = time.perf_counter()
        code = run()
        print(f"({name}: {time.perf_counter() - started:.0f} s)", flush=True)
        if code:
            failed.append(name)
    print(f"\nwrote bench/results.md and bench/results.png. Full growth run: `{FULL_GROWTH_COMMAND}`")
    if failed:
        print(f"parts that reported a failure: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
