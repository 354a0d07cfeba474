"""Entry point for spark-submit: `spark-submit ... streaming/__main__.py [smartcity stream options]`."""

import argparse
import logging
import sys

from smartcity.errors import SmartcityError
from streaming.arguments import add_stream_arguments, stream_run, stream_settings
from streaming.job import run_stream


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="streaming", description="Land Kafka in the lake's raw zone.")
    add_stream_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    try:
        run_stream(stream_settings(args), stream_run(args))
    except SmartcityError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


sys.exit(main(sys.argv[1:]))
