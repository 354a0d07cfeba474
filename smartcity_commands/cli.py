"""The `smartcity` command."""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import datetime

from smartcity_commands.dashboard import DEFAULT_PORT as DASHBOARD_PORT
from smartcity.errors import ConfigError, SmartcityError
from smartcity.settings import load_settings
from smartcity.simulator.faults import MALFORMED_KINDS
from streaming.arguments import add_stream_arguments, stream_run, stream_settings


def _utc_time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 time: {text!r} (e.g. 2026-11-29T08:00:00Z)") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no timezone; add Z for UTC")
    return value


def _demo_hours(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 18:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of hours between 1 and 18 (06:00-24:00)")
    return int(text)


def _whole(low: int, high: int | None = None, what: str = "number"):
    """An argparse type: a whole number in low..high (high None: no upper bound)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(
                f"{value} is not a {what} between {low} and {high}" if high is not None else f"{value} is below {low}")
        return value
    return parse


_port = _whole(1, 65535, "TCP port")
_positive = _whole(1)


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{value} is not a share between 0 and 1")
    return value


def _kinds(text: str) -> tuple[str, ...]:
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    unknown = [k for k in kinds if k not in MALFORMED_KINDS]
    if unknown or not kinds:
        raise argparse.ArgumentTypeError(f"unknown kind(s) {unknown}; choose from {','.join(MALFORMED_KINDS)}")
    return kinds


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smartcity", description="Real-time lakehouse for city operations.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    sim = sub.add_parser("simulate", help="run the city simulator into Kafka")
    sim.add_argument("--events", type=int, help="stop after this many events")
    sim.add_argument("--duration", type=float, help="stop after this many seconds (wall clock)")
    sim.add_argument("--rate", type=float, default=0.0, help="events per second; 0 = as fast as possible")
    sim.add_argument("--speed", type=float, default=1.0,
                     help="simulated seconds per real second (default 1 = real time; 0 = as fast as possible)")
    sim.add_argument("--start", type=_utc_time, help="simulated start time, ISO-8601 UTC (default: now at --speed 1 or below; "
                     "a faster run starts far enough back to end by now)")
    sim.add_argument("--seed", type=int, default=42)
    sim.add_argument("--vehicles", type=int, default=2000, help="fleet size (default 2000)")
    sim.add_argument("--car-gps-every", type=int, default=5,
                     help="seconds between GPS fixes of cars and trucks, telemetry at twice it (default 5)")
    sim.add_argument("--fleet-gps-every", type=int, default=5,
                     help="the same for buses and emergency units (default 5)")
    sim.add_argument("--late-share", type=_share, default=0.0, help="share of events sent late (0..1)")
    sim.add_argument("--max-lateness", type=int, default=900, help="latest a late event arrives, seconds")
    sim.add_argument("--malformed-share", type=_share, default=0.0, help="share of malformed messages (0..1)")
    sim.add_argument("--malformed-kinds", type=_kinds, default=MALFORMED_KINDS,
                     help=f"comma-separated, among {','.join(MALFORMED_KINDS)}")
    sim.add_argument("--partitions", type=int, help="partitions per topic when creating topics")
    sim.add_argument("--no-progress", action="store_true", help="no progress bar")

    stream = sub.add_parser("stream", help="land Kafka in the lake's raw zone (Spark Structured Streaming)")
    add_stream_arguments(stream)

    query = sub.add_parser("query", help="ad-hoc SQL over the catalog (DuckDB locally, Athena in AWS mode)")
    query.add_argument("sql", help='e.g. "SELECT zone_name, count(*) FROM transformed_gps GROUP BY 1"')
    query.add_argument("--max-rows", type=_whole(0), default=100, help="rows to print (default 100)")
    query.add_argument("--as-of", metavar="SNAPSHOT_OR_TIME",
                       help="read the tables as of an Iceberg snapshot id (one table's snapshot; the others as of "
                            "when it was made) or an ISO time, e.g. 2026-11-29T10:30:00Z (default: now)")

    report = sub.add_parser("report", help="charts of the marts as PNGs and one self-contained HTML page")
    report.add_argument("--hours", type=_positive, default=24,
                        help="hours to show, ending at the newest hour any mart has (default 24)")
    report.add_argument("--out", help="write to this local folder (default: the lake's report/ area)")

    stack = sub.add_parser("stack", help="the embedded local services")
    stack.add_argument("action", choices=["up", "down", "status"])

    cluster = sub.add_parser("cluster", help="a Spark standalone cluster on this machine (master + workers on 127.0.0.1)")
    cluster.add_argument("action", choices=["up", "down", "status"])
    cluster.add_argument("--workers", type=_positive, help="workers to start (default 2)")
    cluster.add_argument("--cores", type=_positive, help="cores of each worker (default 1)")
    cluster.add_argument("--memory", help="memory of each worker's executors (default 1g)")
    cluster.add_argument("--port", type=_port, help="the master's port (default 17077)")
    cluster.add_argument("--ui-port", type=_port, help="the master's web UI port (default 18080)")

    up = sub.add_parser("up", help="the live platform: stack, streaming job, simulator, Dagster UI and daemon")
    up.add_argument("--ui-port", type=_port, default=3000, help="Dagster UI port (default 3000)")
    up.add_argument("--dashboard-port", type=int, default=DASHBOARD_PORT,
                    help=f"live dashboard port (default {DASHBOARD_PORT})")
    up.add_argument("--vehicles", type=_positive, default=2000, help="fleet size of the simulated city (default 2000)")
    up.add_argument("--duration", type=float, help="stop after this many seconds (default: until Ctrl-C)")
    up.add_argument("--status-every", type=float, default=60.0, help="seconds between status lines (default 60)")

    dashboard = sub.add_parser("dashboard", help="the live operations dashboard over the settings' warehouse")
    dashboard.add_argument("--port", type=int, default=DASHBOARD_PORT, help=f"port (default {DASHBOARD_PORT})")

    fresh = sub.add_parser("freshness", help="produced -> visible-in-mart latency of the live platform's runs")
    fresh.add_argument("--mart", default="traffic_congestion", help="mart to measure (default traffic_congestion)")
    fresh.add_argument("--since", type=_utc_time, help="measure the micro-batches committed since this ISO time "
                       "(default: those of the last `smartcity up`)")
    fresh.add_argument("--all", action="store_true", help="measure every micro-batch in the lake")

    iam = sub.add_parser("iam-policies", help="write the least-privilege IAM policies of each component (JSON)")
    iam.add_argument("--out", default="deploy/iam", help="folder for <role>.policy.json / .trust.json")
    iam.add_argument("--account-id", help="AWS account id (default: SMARTCITY_AWS_ACCOUNT_ID)")

    demo = sub.add_parser("demo", help="the main job: run the platform end to end on the embedded stack")
    demo.add_argument("--hours", type=_demo_hours, default=6,
                      help="hours of city time to simulate, from 06:00 UTC yesterday (1-18, default 6)")
    demo.add_argument("--vehicles", type=_positive, default=600, help="fleet size of the simulated city (default 600)")
    demo.add_argument("--keep-stack", action="store_true", help="leave the stack running afterwards")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    # argparse reports a missing command before an unknown option given in its place: name the option
    first = next((a for a in argv if a not in ("-v", "--verbose")), None)
    if first is not None and first.startswith("-") and first not in ("-h", "--help"):
        parser.error(f"unknown option {first}; options go after the command, e.g. smartcity query --help")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    if not args.verbose:  # Dagster's storage migrations log every ephemeral instance they create
        logging.getLogger("alembic").setLevel(logging.WARNING)
    for chatty in ("botocore", "boto3", "s3transfer", "urllib3"):  # at DEBUG they log session tokens
        logging.getLogger(chatty).setLevel(max(logging.INFO, logging.getLogger(chatty).level))
    try:
        return _dispatch(args)
    except SmartcityError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _dispatch(args: argparse.Namespace) -> int:
    settings = load_settings()
    if args.command == "simulate":
        from smartcity.simulator.run import (
            SimulationConfig,
            format_report,
            run_simulation,
        )

        config = SimulationConfig(
            events=args.events, duration_s=args.duration, rate=args.rate, speed=args.speed, start=args.start,
            seed=args.seed, vehicles=args.vehicles, car_gps_every_s=args.car_gps_every,
            fleet_gps_every_s=args.fleet_gps_every, late_share=args.late_share,
            max_lateness_s=args.max_lateness, malformed_share=args.malformed_share,
            malformed_kinds=args.malformed_kinds, partitions=args.partitions, progress=not args.no_progress)
        report = run_simulation(settings, config)
        print(format_report(report))
        return 1 if report.failed else 0
    if args.command == "stream":
        from streaming.job import run_stream

        run_stream(stream_settings(args), stream_run(args))
        return 0
    if args.command == "query":
        from smartcity.catalog.query import parse_as_of, run_query
        from smartcity.console import table

        columns, rows = run_query(settings, args.sql, as_of=parse_as_of(args.as_of))
        print(table(columns, rows[: args.max_rows]))
        more = f" (first {args.max_rows} shown)" if len(rows) > args.max_rows else ""
        print(f"({len(rows):,} rows{more})")
        return 0
    if args.command == "report":
        from smartcity.lake.iceberg import LakeTables
        from smartcity.report import build_report
        from smartcity.report.data import check_hours

        hours = check_hours(args.hours)  # before the catalog is opened
        report = build_report(LakeTables.from_settings(settings), hours=hours, out=args.out)
        for chart in report.charts:
            print(f"{chart.title}: {chart.caption}")
        print(f"report for {report.data.start:%Y-%m-%d %H:%M} - {report.data.end:%Y-%m-%d %H:%M} UTC: {report.html_uri}")
        if report.latest_uri:
            print(f"latest report: {report.latest_uri}")
        return 0
    if args.command == "stack":
        from smartcity_commands import stack
        from smartcity.console import table

        if args.action == "up":
            print("\n".join(stack.up(settings)))
        elif args.action == "down":
            print("\n".join(stack.down(settings)))
        else:
            print(table(["service", "state", "address", "pid", "log"], stack.status(settings)))
        return 0
    if args.command == "cluster":
        from smartcity_commands import cluster
        from smartcity.console import table

        if args.action == "up":
            given = {"workers": args.workers, "cores": args.cores, "memory": args.memory, "port": args.port,
                     "ui_port": args.ui_port}
            spec = cluster.ClusterSpec(**{k: v for k, v in given.items() if v is not None})
            print("\n".join([*cluster.up(settings, spec), f"submit the stream: {cluster.submit_hint(settings)}"]))
        elif args.action == "down":
            print("\n".join(cluster.down(settings)))
        else:
            print(table(["process", "state", "address", "pid", "log"], cluster.status(settings)))
        return 0
    if args.command == "up":
        from smartcity_commands.platform import run_platform

        return run_platform(settings, ui_port=args.ui_port, dashboard_port=args.dashboard_port, vehicles=args.vehicles,
                            status_every_s=args.status_every, stop_after_s=args.duration)
    if args.command == "dashboard":
        from smartcity_commands.dashboard.server import serve

        return serve(settings, args.port)
    if args.command == "freshness":
        import dagster as dg

        from smartcity_commands.freshness import PlatformRun, measure
        from smartcity.lake import Lake

        home = settings.home_dir / "dagster"
        if not (home / "dagster.yaml").exists():
            raise ConfigError(f"no Dagster instance in {home}: start the platform with `smartcity up` first")
        run = PlatformRun.load(settings.home_dir)
        if args.all or (args.since is None and run is None):
            since, until, what = None, None, "every micro-batch in the lake"
        elif args.since is not None:
            since, until, what = args.since, None, f"the micro-batches committed since {args.since.isoformat()}"
        else:
            since, until, what = run.started_at, run.stopped_at, f"the micro-batches of {run.describe()}"
        print(f"measuring {what}")
        with dg.DagsterInstance.from_config(str(home)) as instance:
            print(measure(Lake.from_settings(settings), instance, mart=args.mart, since=since, until=until).summary())
        return 0
    if args.command == "iam-policies":
        from pathlib import Path

        from smartcity.security.iam import render

        if args.account_id:
            settings = load_settings(aws_account_id=args.account_id)
        for path in render(settings, Path(args.out)):
            print(path)
        return 0
    if args.command == "demo":
        from smartcity_commands.demo import run_demo

        return run_demo(settings, hours=args.hours, vehicles=args.vehicles, keep_stack=args.keep_stack)
    raise ConfigError(f"unknown command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
