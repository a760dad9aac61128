"""The latency part's bookkeeping: the three paths' order and the ratios it reports (no Rasa needed)."""

from __future__ import annotations

from collections import Counter

from bench.latency import PATHS, Tally, path_order, report
from bench.report import rows


def test_every_path_takes_every_place_equally_often() -> None:
    places = Counter((position, path) for step in range(3) for position, path in enumerate(path_order(step, 0)))
    assert set(places.values()) == {1} and len(places) == len(PATHS) ** 2


def test_the_forwarder_is_reported_against_rasa_and_the_whole_stack_against_the_forwarder() -> None:
    tally = Tally(rest=[0.4, 0.4], bot=[0.6, 0.6], forwarder=[0.5, 0.5], forwarder_unanswered=1)
    result = report(tally, residents=1, script=("hallo", "doei"), holding_replies=0, bot_cpu=None, forwarder_cpu=2.0)
    assert result["forwarder"]["p50_ms"] == 500.0 and result["forwarder"]["unanswered"] == 1
    assert result["ratio_p50_forwarder_vs_rest"] == 1.25
    assert result["ratio_p50_whole_stack_vs_forwarder"] == 1.2
    table = {row[0]: row for row in rows({"parts": {"latency": result}})}
    assert table["Turn latency p50, plain forwarder"][1:4] == ("500 ms", "Rasa REST 400 ms", "1.25×")
    assert table["Whole stack over plain forwarder, p50"][1:4] == ("600 ms", "forwarder 500 ms", "1.20×")
