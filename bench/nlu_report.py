"""`make nlu-report`: intent accuracy, macro-F1 and postcode extraction on the held-out split, on its own.

Starts a Rasa server with the trained model on a free loopback port (NLU only: no action server, no tracker
store), scores tests/nlu/holdout.yml through /model/parse (bench.understanding), prints the figures and stops
the server. `--rasa-url URL` uses a server that is already running instead. `--json` prints the JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.stack import RestClient
from bench.understanding import evaluate
from tests.bot.harness import free_port
from wijkbot.runner import MODEL, rasa_executable, stop_process, wait_until_up


def start_nlu_server(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    if not MODEL.exists():
        raise RuntimeError("no trained model at var/models/wijkbot.tar.gz: run `make train`")
    port = free_port()
    env = dict(os.environ)
    env["RASA_TELEMETRY_ENABLED"] = "false"
    log = (workdir / "rasa.log").open("ab")
    # Run in the temporary directory: no endpoints.yml there, so no action server and no tracker store.
    process = subprocess.Popen(
        [str(rasa_executable()), "run", "--enable-api", "-i", "127.0.0.1", "-p", str(port), "--model", str(MODEL)],
        cwd=workdir,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/status", seconds=300, process=process, name="rasa (nlu report)")
    except BaseException:
        stop_process(process)
        raise
    return process, url


async def score(url: str) -> dict[str, Any]:
    client = RestClient(url)
    try:
        return await evaluate(client.parse)
    finally:
        await client.aclose()


def render(result: dict[str, Any]) -> str:
    postcodes = result["postcodes"]
    lines = [
        f"Held-out split: {result['examples']} examples, {result['intents']} intents (tests/nlu/holdout.yml)",
        f"  intent accuracy      {result['accuracy']:.1%}   (likeliest intent; nlu_fallback undone, as rasa test does)",
        f"  macro-F1             {result['macro_f1']:.3f}",
        f"  as served            {result['served_accuracy']:.1%}   (nlu_fallback counted wrong; "
        f"fallback on {result['fallback_share']:.1%})",
        f"  postcodes            {postcodes['extracted']}/{postcodes['annotated']} extracted, "
        f"{postcodes['false_positives']} false positives; spellings "
        f"{postcodes['spelling_variants_right']}/{postcodes['spelling_variants']}",
        f"  places               {result['places']['extracted']}/{result['places']['annotated']} extracted",
        "",
        "  intent                precision recall  f1     n",
    ]
    for name, scores in sorted(result["per_intent"].items()):
        lines.append(
            f"  {name:<22}{scores['precision']:>8.2f}{scores['recall']:>7.2f}{scores['f1']:>7.2f}{int(scores['n']):>6}"
        )
    if result["most_common_confusions"]:
        lines.append("")
        lines.append("  most common confusions (truth -> predicted):")
        lines.extend(f"    {pair}: {count}" for pair, count in result["most_common_confusions"].items())
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.nlu_report", description=__doc__.splitlines()[0])
    parser.add_argument("--rasa-url", help="use this running Rasa server instead of starting one")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    if args.rasa_url:
        result = asyncio.run(score(args.rasa_url))
    else:
        with tempfile.TemporaryDirectory(prefix="wijkbot-nlu-") as tmp:
            print("starting Rasa with var/models/wijkbot.tar.gz (loading the model takes about a minute) ...")
            try:
                process, url = start_nlu_server(Path(tmp))
            except RuntimeError as exc:
                print(f"nlu-report: {exc}", file=sys.stderr)
                return 1
            try:
                result = asyncio.run(score(url))
            finally:
                stop_process(process)
    print(json.dumps(result, indent=2, ensure_ascii=False) if args.json else render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
