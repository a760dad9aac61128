"""The bench's sender-per-channel part sends every queued row once on each channel and reports the ratios."""

from __future__ import annotations

from pathlib import Path

from bench.channels import measure
from bench.report import rows


async def test_every_row_is_sent_on_every_channel_and_the_report_names_the_ratios(tmp_path: Path) -> None:
    result = await measure(tmp_path, rows=20)
    for channel in ("telegram", "whatsapp", "web"):
        assert result[channel]["sent"] == 20 and result[channel]["rows_per_s"] > 0
    assert result["ratio_web_to_telegram"] == round(result["web"]["rows_per_s"] / result["telegram"]["rows_per_s"], 3)
    table = rows({"parts": {"channels": result}})
    [whatsapp] = [row for row in table if row[0].startswith("Sender raw rate, whatsapp")]
    assert whatsapp[3] == f"{result['ratio_whatsapp_to_telegram']:.2f}×"
