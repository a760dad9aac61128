"""`make nlu-report`: intent accuracy, macro-F1 and postcode extraction on the held-out split, on its own.

Starts a Rasa server with the trained model on a free loopback port (NLU only: no action server, no tracker
store), scores tests/nlu/holdout.yml through /model/parse (bench.understanding), prints the figures and stops
the server. `--rasa-url URL` uses a server that is already running instead, `--model PATH` another trained model
(an experiment: var/models/wijkbot.tar.gz stays as it is). `--outside PATH` also scores a file of texts nobody on
the project wrote (a YAML list of `{text, label}`, e.g. ../shared/data/outside/dev.yaml): per-label recall as
served, the fallback rate and the confidently-wrong rate. `--json` prints the JSON.
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

from bench.common import free_port
from bench.stack import RestClient
from bench.understanding import evaluate, evaluate_outside
from wijkbot.runner import MODEL, ROOT, rasa_serve_command, stop_process, wait_until_up


def start_nlu_server(workdir: Path, model: Path = MODEL) -> tuple[subprocess.Popen[bytes], str]:
    if not model.exists():
        raise RuntimeError(f"no trained model at {model}: run `make train`")
    port = free_port()
    env = dict(os.environ)
    env["RASA_TELEMETRY_ENABLED"] = "false"
    # the model names the project's own NLU components (nlu_components/): importable from the repository root
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    log = (workdir / "rasa.log").open("ab")
    # Run in the temporary directory: no endpoints.yml there, so no action server and no tracker store.
    process = subprocess.Popen(
        [
            *rasa_serve_command(),
            "run",
            "--enable-api",
            "-i",
            "127.0.0.1",
            "-p",
            str(port),
            "--model",
            str(model.resolve()),
        ],
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


async def score(url: str, outside: Path | None = None) -> dict[str, Any]:
    client = RestClient(url)
    try:
        result = await evaluate(client.parse)
        if outside is not None:
            result["outside"] = await evaluate_outside(client.parse, outside)
        return result
    finally:
        await client.aclose()


def render_outside(outside: dict[str, Any]) -> list[str]:
    lines = [
        "",
        f"Outside texts: {outside['examples']} examples ({outside['path']}), as served",
        f"  right                {outside['served_accuracy']:.1%}",
        f"  fallback             {outside['fallback_rate']:.1%}   (nlu_fallback: counted as not right)",
        f"  confidently wrong    {outside['confidently_wrong_rate']:.1%}   (a wrong intent above the threshold)",
        "",
        "  label                 recall fallback wrong     n",
    ]
    for name, scores in outside["per_label"].items():
        lines.append(
            f"  {name:<22}{scores['recall']:>6.2f}{scores['fallback']:>9.2f}{scores['wrong']:>6.2f}{scores['n']:>6}"
        )
    if outside["most_common_confusions"]:
        lines.append("  most common confusions (truth -> served):")
        lines.extend(f"    {pair}: {count}" for pair, count in outside["most_common_confusions"].items())
    return lines


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
    if "outside" in result:
        lines.extend(render_outside(result["outside"]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.nlu_report", description=__doc__.splitlines()[0])
    parser.add_argument("--rasa-url", help="use this running Rasa server instead of starting one")
    parser.add_argument(
        "--model", type=Path, default=MODEL, help="the model to serve (default var/models/wijkbot.tar.gz)"
    )
    parser.add_argument("--outside", type=Path, help="also score this file of outside texts (YAML list of text, label)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    if args.outside is not None and not args.outside.is_file():
        print(f"nlu-report: no file {args.outside}", file=sys.stderr)
        return 1
    if args.rasa_url:
        result = asyncio.run(score(args.rasa_url, args.outside))
    else:
        with tempfile.TemporaryDirectory(prefix="wijkbot-nlu-") as tmp:
            print(f"starting Rasa with {args.model} (loading the model takes about a minute) ...")
            try:
                process, url = start_nlu_server(Path(tmp), args.model)
            except RuntimeError as exc:
                print(f"nlu-report: {exc}", file=sys.stderr)
                return 1
            try:
                result = asyncio.run(score(url, args.outside))
            finally:
                stop_process(process)
    print(json.dumps(result, indent=2, ensure_ascii=False) if args.json else render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
