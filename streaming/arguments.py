"""The options of the streaming job, shared by `smartcity stream` and the spark-submit entry point
(`streaming/__main__.py`), so both accept the same command line."""

from __future__ import annotations

import argparse


def add_stream_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--available-now", action="store_true",
                        help="process everything available now, then stop (backfills, tests)")
    parser.add_argument("--duration", type=float, help="stop after this many seconds (default: until Ctrl-C)")
    parser.add_argument("--trigger-interval", type=float, help="seconds between micro-batches (default 1)")
    parser.add_argument("--max-offsets-per-trigger", type=int, help="cap on Kafka records per micro-batch")
    parser.add_argument("--starting-offsets", help="earliest | latest | JSON (first start of a checkpoint)")
    parser.add_argument("--checkpoint", help="checkpoint folder (default .smartcity/checkpoints/raw)")
    parser.add_argument("--no-fail-on-data-loss", action="store_true",
                        help="continue from the earliest offsets when checkpointed ones no longer exist")


def stream_settings(args: argparse.Namespace):
    """The settings with the command line's overrides."""
    from smartcity.settings import load_settings

    overrides = {"trigger_interval_s": args.trigger_interval, "max_offsets_per_trigger": args.max_offsets_per_trigger,
                 "starting_offsets": args.starting_offsets, "checkpoint_location": args.checkpoint,
                 "fail_on_data_loss": False if args.no_fail_on_data_loss else None}
    return load_settings(**{k: v for k, v in overrides.items() if v is not None})


def stream_run(args: argparse.Namespace):
    from streaming.job import StreamRun

    return StreamRun(available_now=args.available_now, stop_after_s=args.duration)
