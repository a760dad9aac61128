"""`make bench`: what the bot exists for, measured side by side with Rasa on its own, in one run.

A benchmark, not a test: it writes `bench/results/latest.json` and `latest.md` and exits 0 however slow the
machine is; only a real error (a part that could not run) makes it exit non-zero. See the README's
"Benchmarks" section and docs/bench.md for how to read the figures.
"""
