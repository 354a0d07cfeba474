"""Entry point for spark-submit: `spark-submit ... streaming/__main__.py [smartcity stream options]`."""

import sys

from smartcity.cli import main

sys.exit(main(["stream", *sys.argv[1:]]))
