"""Command-line entry: parse arguments, load the config, call one module function.

Bad input (config, files, paths) prints one clear line and exits 2.

    python main.py data --config config/cpu_smoke.json
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from chat import run_chat
from config import UserError
from config_load import load_config
from data_summary import run_data
from dpo import run_dpo
from eq_bench import rescore, run_eq_bench
from evaluation import run_eval
from model_export import EXPORT_MODELS, run_export
from report import build_report
from report_compare import compare_runs
from serve import run_serve
from stages import run_all
from training import run_training

DESCRIPTION = """friend-tune: fine-tune a chat model into an empathetic, safety-aware friend
and measure whether it got better (QLoRA + emotion/strategy heads, EQ-Bench v2, red team)."""
EPILOG = """getting started (offline, CPU, about 5 minutes):
  python main.py all --config config/cpu_smoke.json
  python main.py chat --run artifacts/runs/cpu_smoke

The default --config, config/example_config.json, trains Qwen/Qwen2.5-3B-Instruct in 4-bit
and needs a GPU and the Hugging Face hub. Every command takes --set KEY=VALUE overrides;
bad input exits with code 2 and names the key, file or path (README: Troubleshooting)."""
DEFAULT_CONFIG = "config/example_config.json"


class _Help(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown, and the description and epilog kept as written."""


def _add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=DEFAULT_CONFIG,
                   help="JSON run config (the default is the GPU + hub run; offline: "
                        "config/cpu_smoke.json)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set training.max_steps=10 (repeatable)")


def _command(sub, name: str, text: str) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=text, description=text, formatter_class=_Help)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="main.py", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=_Help)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = _command(sub, "data", "load, canonicalize and tokenize the sources; print a summary")
    _add_config_args(p)
    p = _command(sub, "train", "QLoRA + heads + weighted multi-loss training")
    _add_config_args(p)
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint")
    p = _command(sub, "dpo", "preference stage: the finished SFT adapter trained further with DPO "
                 "on pairs the toolkit builds (SPIN, safety) and your own (dpo.pairs)")
    _add_config_args(p)
    p.add_argument("--resume", action="store_true", help="continue from the latest DPO checkpoint")
    p = _command(sub, "eval", "base vs fine-tuned (vs SFT+DPO) exports, head metrics, red team")
    _add_config_args(p)
    p = _command(sub, "eq-bench", "EQ-Bench v2 for base and fine-tuned, or re-score exports")
    _add_config_args(p)
    p.add_argument("--questions", help="official-format JSON (default: eval.eq_bench_questions)")
    p.add_argument("--responses", help="re-score these export rows without a model")
    p.add_argument("--out", help="with --responses: where the scored JSON goes")
    p = _command(sub, "chat", "talk to the fine-tuned friend in the terminal")
    _add_config_args(p)
    p.add_argument("--run", help="a run folder (uses its saved config.json)")
    p = _command(sub, "serve", "OpenAI-compatible API and web chat page, through the decoding "
                 "policy and the crisis layer")
    _add_config_args(p)
    p.add_argument("--run", help="a run folder (uses its saved config.json)")
    p.add_argument("--host", help="address to bind (default serve.host: 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default serve.port: 8000)")
    p.add_argument("--api-key", help="require Authorization: Bearer KEY (or set FRIEND_API_KEY)")
    p.add_argument("--upstream", metavar="URL", help="proxy mode: generate on this "
                   "OpenAI-compatible engine (e.g. vLLM), the policy here")
    p.add_argument("--upstream-models", metavar="NAME=ID,...", help="our model names -> the "
                   "upstream's ids (default: the names it offers)")
    p.add_argument("--raw", action="store_true", help="a bare generation backend with no "
                   "policy, on loopback only: another server's --upstream")
    p = _command(sub, "export", "the trained model as a PEFT adapter folder (or merged "
                 "safetensors, or GGUF) with tokenizer, heads and a model card")
    _add_config_args(p)
    p.add_argument("--run", help="a run folder (uses its saved config.json)")
    p.add_argument("--out", required=True, help="the folder to write (must be new or empty)")
    p.add_argument("--model", default="finetuned", choices=EXPORT_MODELS,
                   help="which adapter: the SFT one, or SFT+DPO")
    p.add_argument("--merge", action="store_true", help="fold the adapter into the base "
                   "weights (a 4-bit base is dequantized first) and save safetensors")
    p.add_argument("--gguf", action="store_true", help="with --merge: also an f16 GGUF and an "
                   "Ollama Modelfile (llama, qwen2)")
    p.add_argument("--force", action="store_true", help="replace a non-empty --out")
    p = _command(sub, "pipeline", "check exports, statistics, plots, report.md")
    _add_config_args(p)
    p.add_argument("--run", help="the run folder (default: the config's)")
    p.add_argument("--compare", nargs="+", metavar="RUN", help="one table over several runs")
    p.add_argument("--out", help="with --compare: where the table goes")
    p = _command(sub, "all", "train -> dpo (when dpo.enabled) -> eval -> eq-bench -> pipeline")
    _add_config_args(p)
    p.add_argument("--force", action="store_true", help="redo finished stages")
    return parser


def config_for(args):
    """--run uses the run's resolved config (plus --set); else --config."""
    if getattr(args, "run", None):
        path = os.path.join(args.run, "config.json")
        if not os.path.isfile(path):
            raise UserError(f"{args.run} is not a run folder: it has no config.json")
        run = os.path.abspath(args.run)  # the folder given, wherever it was copied to
        return load_config(path, args.overrides + [f"output.root={os.path.dirname(run)}",
                                                   f"output.run_name={os.path.basename(run)}"])
    return load_config(args.config, args.overrides)


def cmd_train(args) -> int:
    run_training(load_config(args.config, args.overrides), resume=args.resume)
    return 0


def cmd_dpo(args) -> int:
    run_dpo(load_config(args.config, args.overrides), resume=args.resume)
    return 0


def cmd_eval(args) -> int:
    run_eval(load_config(args.config, args.overrides))
    return 0


def cmd_eq_bench(args) -> int:
    if args.responses:
        if not args.questions or not args.out:
            raise UserError("--responses needs --questions and --out")
        rescore(args.questions, args.responses, args.out)
    else:
        run_eq_bench(load_config(args.config, args.overrides), args.questions)
    return 0


def cmd_chat(args) -> int:
    return run_chat(config_for(args))


def cmd_serve(args) -> int:
    return run_serve(config_for(args), args.host, args.port, args.api_key, args.upstream,
                     args.upstream_models, args.raw)


def cmd_export(args) -> int:
    run_export(config_for(args), args.out, args.model, args.merge, args.gguf, args.force)
    return 0


def cmd_pipeline(args) -> int:
    if args.compare:
        compare_runs(args.compare, args.out)
        return 0
    run_dir = args.run or load_config(args.config, args.overrides).run_dir
    print(f"report: {os.path.abspath(build_report(run_dir))}")
    return 0


def cmd_all(args) -> int:
    run_all(load_config(args.config, args.overrides), force=args.force)
    return 0


def cmd_data(args) -> int:
    run_data(load_config(args.config, args.overrides))
    return 0


COMMANDS = {"data": cmd_data, "train": cmd_train, "dpo": cmd_dpo, "eval": cmd_eval, "eq-bench": cmd_eq_bench,
            "chat": cmd_chat, "serve": cmd_serve, "export": cmd_export,
            "pipeline": cmd_pipeline, "all": cmd_all}


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)  # CPU-kernel notices are noise here
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
