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

from config import UserError, load_config  # noqa: E402


def _add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default="config/example_config.json", help="JSON run config")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set training.max_steps=10 (repeatable)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="main.py", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("data", help="load, canonicalize and tokenize the sources; print a summary")
    _add_config_args(p)
    p = sub.add_parser("train", help="QLoRA + heads + weighted multi-loss training")
    _add_config_args(p)
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint")
    return parser


def cmd_train(args) -> int:
    from training import run_training
    run_training(load_config(args.config, args.overrides), resume=args.resume)
    return 0


def cmd_data(args) -> int:
    from data_summary import run_data
    run_data(load_config(args.config, args.overrides))
    return 0


COMMANDS = {"data": cmd_data, "train": cmd_train}


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
