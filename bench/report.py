"""The bench's output: bench/results/latest.json (everything) and latest.md (the short table), printed too."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def _get(data: dict[str, Any], *path: str) -> Any:
    value: Any = data
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def _ms(value: Any) -> str:
    return "–" if value is None else f"{value:.0f} ms" if value >= 100 else f"{value:.1f} ms"


def _x(value: Any) -> str:
    return "–" if value is None else f"{value:.2f}×"


def _n(value: Any, unit: str = "", digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}{unit}"
    return f"{value:,}{unit}"


Row = tuple[str, str, str, str, str]


def rows(results: dict[str, Any]) -> list[Row]:
    parts: dict[str, Any] = results.get("parts", {})
    errors: dict[str, str] = results.get("errors", {})
    table: list[Row] = []

    def part(name: str, make: Callable[[dict[str, Any]], list[Row]], label: str) -> None:
        data = parts.get(name)
        if isinstance(data, dict) and "not_available" in data:
            table.append((label, "not available", "", "", str(data["not_available"])))
        elif isinstance(data, dict) and data:
            table.extend(make(data))
        elif name in errors:
            table.append((label, "failed", "", "", errors[name].strip().splitlines()[-1][:100]))
        else:
            table.append((label, "not measured", "", "", ""))

    def latency(d: dict[str, Any]) -> list[Row]:
        stack, rest = d["whole_stack"], d["rasa_rest"]
        n = f"{d['turns_per_path']} turns each path, one at a time"
        table = [
            ("Turn latency p50", _ms(stack["p50_ms"]), f"Rasa REST {_ms(rest['p50_ms'])}", _x(d["ratio_p50"]), n),
            (
                "Turn latency p95",
                _ms(stack["p95_ms"]),
                f"Rasa REST {_ms(rest['p95_ms'])}",
                _x(d["ratio_p95"]),
                "per-chat pacing kept out",
            ),
        ]
        forwarder = d.get("forwarder")
        if forwarder:
            table.append(
                (
                    "Turn latency p50, plain forwarder",
                    _ms(forwarder["p50_ms"]),
                    f"Rasa REST {_ms(rest['p50_ms'])}",
                    _x(d.get("ratio_p50_forwarder_vs_rest")),
                    f"PTB → Rasa, no database (p95 {_ms(forwarder['p95_ms'])}, unanswered {forwarder['unanswered']})",
                )
            )
            table.append(
                (
                    "Whole stack over plain forwarder, p50",
                    _ms(stack["p50_ms"]),
                    f"forwarder {_ms(forwarder['p50_ms'])}",
                    _x(d.get("ratio_p50_whole_stack_vs_forwarder")),
                    "what durability (database, outbox, sender) adds over the floor",
                )
            )
        return table

    def throughput(d: dict[str, Any]) -> list[Row]:
        stack, rest = d["whole_stack"], d["rasa_rest"]
        notes = f"lost {stack['lost']}, answered twice {stack['answered_twice']}"
        if stack.get("rasa_turns_twice"):
            notes += f"; {stack['rasa_turns_twice']} turn(s) reached Rasa twice (retried after the bot's timeout)"
        if stack.get("holding_replies"):
            notes += f"; {stack['holding_replies']} holding replies"
        rows = [
            (
                f"Throughput, {d['residents']} residents × {d['turns_per_resident']} turns",
                f"{_n(stack['turns_per_s'])} turns/s",
                f"Rasa REST {_n(rest['turns_per_s'])} turns/s",
                _x(d["ratio"]),
                notes + "; Telegram's limits kept (1 message/s per chat, 30/s in all)",
            )
        ]
        free = d.get("whole_stack_without_telegram_limits")
        if free:
            rows.append(
                (
                    "Throughput, the same without Telegram's limits",
                    f"{_n(free['turns_per_s'])} turns/s",
                    f"Rasa REST {_n(rest['turns_per_s'])} turns/s",
                    _x(d.get("ratio_without_telegram_limits")),
                    f"what the bot itself carries; lost {free['lost']}, answered twice {free['answered_twice']}, "
                    f"bot CPU {_n(free.get('bot_cpu_ms_per_turn'), ' ms')} per turn",
                )
            )
        return rows

    def broadcast(d: dict[str, Any]) -> list[Row]:
        limited, raw = d["limited"], d["raw"]
        return [
            (
                f"Poll to {d['subscribers']:,} subscribers: enqueue",
                f"{_n(d['enqueue_seconds'], ' s', 2)}",
                "",
                "",
                f"{_n(d['messages'])} outbox rows",
            ),
            (
                "Broadcast send rate",
                f"{_n(limited['rate_per_s'])}/s",
                f"limit {_n(d['limit_per_s'])}/s",
                _x(d["achieved_over_limit"]),
                f"over {limited['window_s']} s; busiest second {limited['busiest_second']}",
            ),
            (
                "Sender raw rate (limits off)",
                f"{_n(raw['rate_per_s'])}/s",
                f"limit {_n(d['limit_per_s'])}/s",
                _x(d["raw_over_limit"]),
                f"{_n(raw['sent'])} messages; all {_n(d['delivered'])} delivered: {d['finished']}",
            ),
            ("Broadcast duplicates", str(d["duplicates"]), "must be 0", "", ""),
        ]

    def understanding(d: dict[str, Any]) -> list[Row]:
        postcodes = d["postcodes"]
        return [
            (
                "Intent accuracy / macro-F1",
                f"{d['accuracy']:.1%} / {d['macro_f1']:.3f}",
                "",
                "",
                f"held-out, {d['examples']} examples; as served {d['served_accuracy']:.1%} "
                f"(fallback {d['fallback_share']:.1%})",
            ),
            (
                "Postcode extraction",
                f"{postcodes['extracted']}/{postcodes['annotated']}",
                "",
                "",
                f"{postcodes['false_positives']} false positives; other spellings "
                f"{postcodes['spelling_variants_right']}/{postcodes['spelling_variants']}",
            ),
        ]

    def outside(d: dict[str, Any]) -> list[Row]:
        recall = ", ".join(f"{label} {v['recall']:.2f}" for label, v in d["per_label"].items())
        return [
            (
                "Outside texts, as served",
                f"{d['served_accuracy']:.1%} right",
                f"fallback {d['fallback_rate']:.1%}",
                f"wrong {d['confidently_wrong_rate']:.1%}",
                f"{d['examples']} texts nobody on the project wrote; recall {recall}",
            )
        ]

    def first(d: dict[str, Any]) -> list[Row]:
        per = ", ".join(
            f"{label} {v['right']:.0%}/{v['clarified']:.0%}/{v['wrong']:.0%}" for label, v in d["per_label"].items()
        )
        return [
            (
                "First messages, whole stack",
                f"{d['right']:.1%} right",
                f"asked {d['clarified']:.1%}",
                f"wrong {d['wrong']:.1%}",
                f"{d['examples']} outside texts as a new chat's first message (right/asked/wrong: {per}); "
                f"filed without confirmation: {d['filed_without_confirmation']}",
            )
        ]

    def training(d: dict[str, Any]) -> list[Row]:
        return [
            (
                f"Training time, cold `{d['what']}`",
                _n(d["seconds"], " s"),
                "",
                "",
                f"model {_n(d.get('model_mb'), ' MB')}",
            )
        ]

    def memory(d: dict[str, Any]) -> list[Row]:
        rasa = d.get("rasa_end") or d.get("rasa_after_start") or {}
        start = d.get("rasa_after_start") or {}
        bot = d.get("bot_end") or {}
        actions = d.get("action_server_end") or {}
        return [
            (
                "Rasa resident memory",
                _n(rasa.get("rss_mb"), " MB", 0),
                "",
                "",
                f"after start {_n(start.get('rss_mb'), ' MB', 0)}, peak {_n(rasa.get('peak_rss_mb'), ' MB', 0)}; "
                f"bot {_n(bot.get('rss_mb'), ' MB', 0)}, action server {_n(actions.get('rss_mb'), ' MB', 0)}",
            )
        ]

    def startup(d: dict[str, Any]) -> list[Row]:
        return [
            (
                "Start-up to first answer",
                _n(d["seconds_to_first_answer"], " s"),
                "",
                "",
                f"Rasa + actions {d['backends_up_s']} s, bot {d['bot_up_s']} s, first turn {d['first_turn_s']} s",
            )
        ]

    def longlived(d: dict[str, Any]) -> list[Row]:
        history = d["history"]
        return [
            (
                f"Long-lived resident ({history['turns']} earlier turns) p50",
                _ms(d["long_lived"]["p50_ms"]),
                f"new resident {_ms(d['new_resident']['p50_ms'])}",
                _x(d["ratio_p50"]),
                f"{d['measured_turns_each']} turns each, whole stack; "
                f"first turn {_ms(d['long_lived']['first_turn_ms'])}",
            )
        ]

    def replicas(d: dict[str, Any]) -> list[Row]:
        one, two = d["one"], d["two"]
        return [
            (
                f"Rasa REST, {d['residents']} residents, two replicas (turns/s)",
                str(two["turns_per_s"]),
                f"one replica {one['turns_per_s']}",
                _x(d["ratio_two_to_one"]),
                f"PostgreSQL tracker + Redis lock store; failed {one['failed']}/{two['failed']}, "
                f"residents out of order {one['residents_out_of_order']}/{two['residents_out_of_order']}",
            )
        ]

    def channels(d: dict[str, Any]) -> list[Row]:
        telegram = d["telegram"]
        return [
            (
                f"Sender raw rate, {name} ({d['rows']} residents, rows/s)",
                str(d[name]["rows_per_s"]),
                f"Telegram {telegram['rows_per_s']}",
                _x(d[f"ratio_{name}_to_telegram"]),
                f"limits off; sent {d[name]['sent']}/{d['rows']}; {note}",
            )
            for name, note in (
                ("whatsapp", "WhatsAppTransport against the fake Cloud API, windows open"),
                ("web", "WebTransport: the widget fetches, no platform call"),
            )
        ]

    def bare(d: dict[str, Any]) -> list[Row]:
        return [
            (
                "Project's Rasa / bare Rasa, turn p50 (one at a time)",
                _ms(d["project_rasa_rest_p50_ms"]),
                f"bare {_ms(d['one_at_a_time']['p50_ms'])}",
                _x(d["ratio_p50"]),
                "bare: rasa init's default assistant, trained and served in this run",
            ),
            (
                f"Project's Rasa / bare Rasa, throughput ({d['throughput']['residents']} residents, turns/s)",
                str(d["project_rasa_rest_turns_per_s"]),
                f"bare {d['throughput']['turns_per_s']}",
                _x(d["ratio_throughput"]),
                f"bare failed {d['throughput']['failed']}; init + training {d['init_and_train_s']} s",
            ),
        ]

    def filing(d: dict[str, Any]) -> list[Row]:
        load, drill = d["load"], d["drill"]
        return [
            (
                f"Confirmed reports, {load['residents']} residents at once: items",
                str(load["items"]),
                f"want {load['residents']}",
                "",
                f"duplicate items {load['duplicate_items']}, without item {load['residents_without_item']}; "
                f"staff notified twice {load['notifications_twice']}; receipts {load['receipts']} "
                f"(twice {load['receipts_twice']})",
            ),
            (
                f'Drill: action server paused {drill["action_server_paused_s"]:.0f} s at "ja", bot waits '
                f"{drill['bot_timeout_s']:.0f} s: items",
                str(drill["items"]),
                f"want {drill['residents']}",
                "",
                f"duplicate items {drill['duplicate_items']}, without item {drill['residents_without_item']}; "
                f"staff notified twice {drill['notifications_twice']}; receipts {drill['receipts']} "
                f"(twice {drill['receipts_twice']}, missing {drill['residents_without_receipt']}); "
                f"holding replies {drill['holding_replies']}, turns the bot gave up on and sent again "
                f"{drill.get('turns_retried')}",
            ),
        ]

    part("latency", latency, "Turn latency")
    part("filing", filing, "Filing exactly once")
    part("throughput", throughput, "Throughput")
    part("bare_rasa", bare, "Bare Rasa reference")
    part("replicas", replicas, "Rasa replicas")
    part("channels", channels, "Sender per channel")
    part("broadcast", broadcast, "Broadcast")
    part("understanding", understanding, "Understanding")
    if "outside" in parts or "outside" in errors:
        part("outside", outside, "Understanding, outside texts")
    if "first_messages" in parts or "first_messages" in errors:
        part("first_messages", first, "First messages, whole stack")
    part("training", training, "Training time")
    part("memory", memory, "Rasa resident memory")
    part("startup", startup, "Start-up")
    part("longlived", longlived, "Long-lived resident")
    return table


def machine_line(results: dict[str, Any]) -> str:
    m = results.get("machine", {})
    app, rasa = m.get("app", {}), m.get("rasa_env", {})
    return (
        f"{m.get('cpu_count')} CPUs ({m.get('cpu_model')}), {_n(m.get('memory_mb'), ' MB', 0)}; "
        f"Python {app.get('python')}, python-telegram-bot {app.get('python-telegram-bot')}, "
        f"SQLAlchemy {app.get('SQLAlchemy')}, rasa-sdk {app.get('rasa-sdk')}; "
        f"Rasa {rasa.get('rasa')} on Python {rasa.get('python')} (TensorFlow {rasa.get('tensorflow')}); "
        f"load average {m.get('load_average_at_start')} at start, {m.get('load_average_at_end')} at end"
    )


def markdown(results: dict[str, Any]) -> str:
    lines = [
        f"# wijkbot bench — {results.get('machine', {}).get('started_at', '')}",
        "",
        "| measure | wijkbot | reference | ratio | notes |",
        "|---|---|---|---|---|",
    ]
    lines.extend("| " + " | ".join(cell.replace("|", "/") for cell in row) + " |" for row in rows(results))
    lines += ["", f"Machine: {machine_line(results)}.", ""]
    busy = results.get("machine", {}).get("other_busy_processes_at_start") or []
    if busy:
        lines += [
            f"Other work on the machine at the start (figures are noisy): {len(busy)} process(es), see latest.json.",
            "",
        ]
    lines.append(f"Total run: {_n(results.get('total_seconds'), ' s', 0)}. Database: SQLite (temporary).")
    errors = results.get("errors") or {}
    if errors:
        lines += ["", "Parts that could not run: " + ", ".join(sorted(errors)) + " (see latest.json)."]
    lines += ["", "How to read this: README.md, section Benchmarks, and docs/bench.md.", ""]
    return "\n".join(lines)


def write(results: dict[str, Any], directory: Path = RESULTS) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "latest.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    text = markdown(results)
    (directory / "latest.md").write_text(text, encoding="utf-8")
    print(text)
    return directory / "latest.md"
