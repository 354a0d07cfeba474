"""Kafka -> Spark Structured Streaming -> lake, exactly once: real broker, real Spark, local lake and S3. (kill -9 of
the job mid-batch under load is in test_faults.py.)"""

from __future__ import annotations

import shutil
import threading

import boto3
import orjson
import pytest

from smartcity.errors import SmartcityError
from smartcity.lake import Lake, layout, manifests
from smartcity.lake.summary import summarize

from .helpers import assert_exactly_once, drain, embedded_settings, expected_messages, moto_server, produce, read_lake


def test_exactly_once_with_late_and_malformed_events(broker_only, spark):
    config, report = produce(broker_only, 40_000)
    drain(broker_only, spark)
    expected = expected_messages(config)
    raw, _ = assert_exactly_once(broker_only, expected)

    # late events really arrived after newer ones and still landed in their own (earlier) hour
    late_ids = {orjson.loads(m.value)["event_id"] for m in expected if m.late and not m.malformed}
    rows = raw.to_pylist()
    first_offset_of_hour_11 = {}
    for r in rows:
        if r["part_hour"] == 11:
            key = (r["kafka_topic"], r["kafka_partition"])
            first_offset_of_hour_11[key] = min(first_offset_of_hour_11.get(key, 1 << 62), r["kafka_offset"])
    late_in_10 = [r for r in rows if r["event_id"] in late_ids and r["part_hour"] == 10
                  and r["kafka_offset"] > first_offset_of_hour_11.get((r["kafka_topic"], r["kafka_partition"]), 1 << 62)]
    assert len(late_in_10) > 20

    # the manifests account for every row, and re-running commits nothing new
    summary = summarize(Lake.from_settings(broker_only))
    assert summary.landed == raw.num_rows and summary.quarantined_total == sum(1 for m in expected if m.malformed)
    head = manifests.head(Lake.from_settings(broker_only))
    drain(broker_only, spark)
    assert manifests.head(Lake.from_settings(broker_only)) == head
    assert_exactly_once(broker_only, expected)


def test_a_replayed_or_aborted_batch_is_never_visible(broker_only, spark, tmp_path):
    """Drive the sink's commit protocol directly: replay of a committed batch id, and an abort."""
    from streaming.lake_sink import LakeCommitMessage, LakeStreamWriter

    produce(broker_only, 5_000)
    drain(broker_only, spark)
    lake = Lake.from_settings(broker_only)
    before = read_lake(broker_only)[0].num_rows
    stream_id = next(iter(manifests.head(lake)))
    committed = manifests.read(lake, stream_id, 0)
    writer = LakeStreamWriter({"lake": lake.uri, "streamId": stream_id})
    # a replay of batch 0 wrote a copy of one of its files under a new name, then tried to commit
    original = committed.files[0]
    copy_path = f"{original.path.rsplit('/', 1)[0]}/" + layout.data_file_name(stream_id, 0, "f" * 32)
    lake.write_bytes(lake.path(copy_path), lake.read_bytes(lake.path(original.path)))
    replay = LakeCommitMessage(files=[manifests.DataFile(copy_path, original.zone, original.source,
                                                         original.date, original.hour, original.rows,
                                                         original.bytes)], offsets=committed.offsets)
    writer.commit([replay], 0)
    assert not lake.exists(lake.path(copy_path))  # the replay's files are removed, the first commit stays
    assert manifests.read(lake, stream_id, 0).files == committed.files
    # an uncommitted batch's file is never read, and abort removes it
    orphan = f"{original.path.rsplit('/', 1)[0]}/" + layout.data_file_name(stream_id, 999, "e" * 32)
    lake.write_bytes(lake.path(orphan), lake.read_bytes(lake.path(original.path)))
    assert read_lake(broker_only)[0].num_rows == before
    writer.abort([LakeCommitMessage(files=[manifests.DataFile(orphan, "raw", original.source, original.date,
                                                              original.hour, 1, 1)]), None], 999)
    assert not lake.exists(lake.path(orphan))


def test_same_pipeline_on_s3(broker_only, spark, tmp_path):
    with moto_server() as endpoint:
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="city-lake")
        settings = broker_only.model_copy(update={"lake_uri": "s3://city-lake/smartcity",
                                                  "s3_endpoint_url": endpoint})
        config, _ = produce(settings, 10_000, seed=5)
        drain(settings, spark)
        assert_exactly_once(settings, expected_messages(config))
        keys = [o["Key"] for o in boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
                .list_objects_v2(Bucket="city-lake", Prefix="smartcity/_manifests/")["Contents"]]
        assert keys and all(k.endswith(".json") for k in keys)


def test_offsets_lost_by_a_broker_restart_fail_the_query_clearly(tmp_path, spark):
    from smartcity_commands import stack
    from smartcity.errors import SmartcityError

    settings = embedded_settings(tmp_path)
    broker = stack.Broker()
    state = broker.start(settings)
    try:
        produce(settings, 3_000)
        drain(settings, spark)
        broker.stop(settings, state)
        state = broker.start(settings)  # in-memory: starts empty
        produce(settings, 500, seed=9)
        with pytest.raises(SmartcityError, match="no longer exist"):
            drain(settings, spark)
        lenient = settings.model_copy(update={"fail_on_data_loss": False})
        drain(lenient, spark)
        assert summarize(Lake.from_settings(settings)).landed + summarize(
            Lake.from_settings(settings)).quarantined_total == 3_000 + 500
    finally:
        broker.stop(settings, state)


def test_a_batch_id_reused_for_other_offsets_stops_the_stream_and_loses_nothing(broker_only, spark, tmp_path):
    """A checkpoint reset while the stream id stays fixed: its batch 0 reads other offsets than the batch 0 in the
    lake. That is no replay: the stream stops, saying why, with nothing of the batch visible and no offset marked
    done; restoring the checkpoint that belongs to the lake, the stream goes on exactly once."""
    settings = broker_only.model_copy(update={"stream_id": "0123456789abcdef"})
    config, _ = produce(settings, 3_000)
    drain(settings, spark)
    backup = tmp_path / "checkpoint-backup"
    shutil.copytree(settings.checkpoint, backup)
    shutil.rmtree(settings.checkpoint)  # reset: the next start plans batch 0 again, from the earliest offsets
    more, _ = produce(settings, 2_000, seed=2)
    lake = Lake.from_settings(settings)
    first = manifests.read(lake, "0123456789abcdef", 0)
    with pytest.raises(SmartcityError, match="batch 0 of stream 0123456789abcdef was committed before for other "
                                             "Kafka offsets"):
        drain(settings, spark)
    assert manifests.read(lake, "0123456789abcdef", 0) == first and manifests.head(lake) == {"0123456789abcdef": 0}
    shutil.rmtree(settings.checkpoint)
    shutil.copytree(backup, settings.checkpoint)
    drain(settings, spark)
    assert_exactly_once(settings, expected_messages(config) + expected_messages(more))


@pytest.mark.parametrize("store", ["local", "s3"])
def test_two_writers_of_one_manifest_cannot_both_win(tmp_path, store):
    """Two drivers committing the same stream's batch id at the same moment, for different offsets (two
    deployments sharing an id): exactly one manifest is created, the other writer is refused, every time."""
    def race(lake: Lake, rounds: int) -> None:
        for batch in range(rounds):
            outcomes, gate = {}, threading.Barrier(2)

            def commit(writer: int) -> None:
                offsets = [manifests.OffsetRange("smartcity.gps", 0, 100 * writer, 100 * writer + 99, 100)]
                files = [manifests.DataFile(f"raw/source=gps/event_date=2026-11-29/event_hour=10/part-{writer}.parquet",
                                            "raw", "gps", "2026-11-29", 10, 100, 1000)]
                manifest = manifests.Manifest("00000000000000aa", batch, manifests.now_iso(), files, offsets)
                gate.wait()
                try:
                    outcomes[writer] = manifests.commit(lake, manifest)
                except manifests.ManifestConflict:
                    outcomes[writer] = "refused"

            threads = [threading.Thread(target=commit, args=(w,)) for w in (1, 2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            winner = next(w for w, outcome in outcomes.items() if outcome is True)
            assert sorted(outcomes.values(), key=str) == sorted([True, "refused"], key=str)
            assert manifests.read(lake, "00000000000000aa", batch).offsets[0].first == 100 * winner

    if store == "local":
        race(Lake(f"file://{tmp_path}/lake"), 40)
        return
    with moto_server() as endpoint:
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="city-lake")
        race(Lake("s3://city-lake/smartcity", s3_endpoint_url=endpoint), 20)
