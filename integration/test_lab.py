"""The downtime lab (`zkafka lab failover`): a small run (3 brokers, 30 partitions, kill -9 of a
leader) on a cluster the lab starts itself (zkafka, and Apache Kafka 3.9 with `--start kafka`), whose result must hold together the way a reader of the
report would expect, and whose HTML report must draw its chart in a real browser (headless
Chromium)."""

import csv
import json
import os
import shutil
import subprocess
import zlib

import pytest

from conftest import broker_binary
from reference import kafka_classpath

pytestmark = [pytest.mark.lab, pytest.mark.timeout(300)]

SESSION_TIMEOUT_MS = 4000
PARTITIONS = 30
# The documented order of a broker change's phases (docs/controller-events.md).
BROKER_CHANGE_ORDER = ["broker_lost_seen", "leaders_chosen", "zk_written", "leader_and_isr_sent",
                       "leader_and_isr_acked", "update_metadata_acked", "event_done"]
# The colour of a bar of a partition led by the broker hit (src/lab/chart.rs).
AFFECTED_RED = (0xC0, 0x39, 0x2B)


def run_lab(out, start: str, timeout: float):
    """`zkafka lab failover --start <start>`, 3 brokers, 30 partitions, a kill: (out, result)."""
    cmd = [str(broker_binary()), "lab", "failover", "--start", start, "--brokers", "3",
           "--partitions", str(PARTITIONS), "--replication-factor", "3",
           "--min-insync-replicas", "2", "--fault", "kill", "--rate", "10",
           "--session-timeout-ms", str(SESSION_TIMEOUT_MS), "--warmup-seconds", "2",
           "--max-wait-seconds", "40", "--out", str(out)]
    env = {"RUST_LOG": "warn", "PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root")}
    env.update({k: v for k, v in os.environ.items() if k in ("ZKAFKA_CACHE", "KAFKA_VERSION")})
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    assert proc.returncode == 0, f"lab failed:\n{proc.stderr[-3000:]}"
    assert "partitions written since" in proc.stderr, "the progress line was never printed"
    return out, json.loads((out / "result.json").read_text())


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    return run_lab(tmp_path_factory.mktemp("lab"), "zkafka", timeout=140)


@pytest.fixture(scope="module")
def kafka_lab(tmp_path_factory):
    kafka_classpath()  # Kafka's jars, fetched once by scripts/kafka-java.sh
    return run_lab(tmp_path_factory.mktemp("kafka-lab"), "kafka", timeout=280)


def assert_gaps_consistent(run):
    """Every partition the lost broker led has a gap ended by another leader, gaps are >= 0, and
    the statistics are those of the gaps."""
    victim = run["fault_broker"]
    parts = run["partitions"]
    assert len(parts) == PARTITIONS
    affected = [p for p in parts if p["leader_before"] == victim]
    assert affected, "the broker killed led no partition"
    assert [p["affected"] for p in parts] == [p["leader_before"] == victim for p in parts]
    for p in affected:
        # A killed leader is noticed only when ZooKeeper expires its session.
        assert p["first_ack_after_ms"] > 0, f"{p} never took writes again"
        assert p["unavailable_ms"] >= SESSION_TIMEOUT_MS // 2, p
        assert p["leader_after"] not in (victim, -1), p
    for p in parts:
        assert p["gap_ms"] >= 0 and p["unavailable_ms"] >= 0, p
        assert p["first_ack_after_ms"] >= p["last_ack_before_ms"] > 0, p
    stats = run["stats"]
    gaps = sorted(p["unavailable_ms"] for p in affected)
    assert stats["affected_partitions"] == len(affected)
    assert stats["max_ms"] == gaps[-1] and stats["min_ms"] == gaps[0]
    assert gaps[0] <= stats["p50_ms"] <= stats["p99_ms"] <= stats["max_ms"]


def assert_nothing_lost(out, result):
    [run] = result["runs"]
    v = run["verification"]
    assert v["acked"] > PARTITIONS * 10
    assert v["unreadable_partitions"] == 0
    assert v["lost"] == 0 and v["duplicated"] == 0
    assert v["read_back"] >= v["acked"]
    assert result["summary"]["lost_total"] == 0
    with open(out / "partitions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == PARTITIONS
    assert sum(int(r["acked"]) for r in rows) == v["acked"]
    assert {r["partition"] for r in rows} == {str(p) for p in range(PARTITIONS)}


def test_every_partition_led_by_the_lost_broker_has_a_gap(lab):
    _, result = lab
    [run] = result["runs"]
    assert_gaps_consistent(run)


def test_controller_phases_are_ordered(lab):
    _, result = lab
    [run] = result["runs"]
    victim = run["fault_broker"]
    stream = [p for p in run["phases"] if p["source"] == "zkafka-events"
              and p["event"] == "BrokerChange" and victim in p["brokers"]
              and p["phase"] == "broker_lost_seen"]
    assert stream, f"no BrokerChange for broker {victim} in the event stream: {run['phases']}"
    seq, controller = stream[0]["seq"], stream[0]["controller"]
    event = [p for p in run["phases"] if p["source"] == "zkafka-events"
             and p["seq"] == seq and p["controller"] == controller]
    assert [p["phase"] for p in event] == BROKER_CHANGE_ORDER
    times = [p["ts_ms"] for p in event]
    assert times == sorted(times)
    assert times[0] >= run["fault_ms"]
    # ZooKeeper's view agrees: the lab's own watch saw the broker's registration go.
    watched = [p for p in run["phases"] if p["source"] == "zookeeper-watch"
               and p["phase"] == "broker_lost_seen"]
    assert watched and watched[0]["brokers"] == [victim]
    # Every affected partition took writes only after its new leader was told.
    told = next(p["ts_ms"] for p in event if p["phase"] == "leader_and_isr_sent")
    for p in run["partitions"]:
        if p["affected"]:
            assert p["first_ack_after_ms"] >= told - 5, p


def test_nothing_acknowledged_is_lost(lab):
    assert_nothing_lost(*lab)


@pytest.mark.reference
def test_kafka_kill_gives_a_consistent_report(kafka_lab):
    """The same run on Apache Kafka 3.9 (`--start kafka`): the same consistency, and Kafka's
    controller phases read from its controller and state-change logs, in order."""
    out, result = kafka_lab
    assert result["target"] == "kafka"
    [run] = result["runs"]
    assert_gaps_consistent(run)
    assert_nothing_lost(out, result)
    victim, fault = run["fault_broker"], run["fault_ms"]
    log = {p["phase"]: p for p in run["phases"] if p["source"] == "kafka-controller-log"}
    assert set(log) >= {"broker_lost_seen", "leader_and_isr_sent", "leader_and_isr_acked",
                        "update_metadata_sent", "update_metadata_acked"}, run["phases"]
    assert log["broker_lost_seen"]["brokers"] == [victim]
    assert victim not in log["leader_and_isr_sent"]["brokers"]
    order = ["broker_lost_seen", "leader_and_isr_sent", "leader_and_isr_acked"]
    times = [log[p]["ts_ms"] for p in order]
    assert fault <= times[0] and times == sorted(times), times
    assert log["update_metadata_sent"]["ts_ms"] <= log["update_metadata_acked"]["ts_ms"]
    # Kafka writes the new leaders' state znodes between seeing the loss and telling the brokers.
    [written] = [p for p in run["phases"] if p["phase"] == "zk_written"]
    assert times[0] <= written["ts_ms"] <= times[1]
    # The lab's own ZooKeeper watch saw the same expiry.
    watched = [p for p in run["phases"] if p["source"] == "zookeeper-watch"
               and p["phase"] == "broker_lost_seen"]
    assert watched and watched[0]["brokers"] == [victim]
    # Every affected partition took writes only after its new leader was told.
    for p in run["partitions"]:
        if p["affected"]:
            assert p["first_ack_after_ms"] >= times[1], p
    assert (out / "logs-run-1" / f"controller-{log['broker_lost_seen']['controller']}.log").exists()


def png_pixels(data: bytes):
    """(width, height, rows of RGB tuples) of an 8-bit RGB/RGBA, non-interlaced PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", None
    while pos < len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height = int.from_bytes(body[:4], "big"), int.from_bytes(body[4:8], "big")
            depth, colour, interlace = body[8], body[9], body[12]
            assert depth == 8 and colour in (2, 6) and interlace == 0, body
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw, stride, rows, prev = zlib.decompress(idat), width * bpp, [], bytearray(width * bpp)
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append([tuple(line[x * bpp:x * bpp + 3]) for x in range(width)])
        prev = line
    return width, height, rows


def test_report_draws_its_chart_in_chromium(lab, tmp_path):
    out, result = lab
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is missing: run scripts/install-deps.sh")
    html = out / "report.html"
    assert "http://" not in html.read_text().replace("http://www.w3.org/2000/svg", ""), \
        "the report must not fetch anything"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([chromium, *flags, "--dump-dom", html.as_uri()], capture_output=True,
                         text=True, timeout=60).stdout
    # One bar per partition in the timeline, as the browser parsed it.
    assert dom.count('class="gap"') == PARTITIONS
    assert dom.count('class="hist"') > 0 and dom.count('class="mark"') == 3
    shot = tmp_path / "report.png"
    subprocess.run([chromium, *flags, "--window-size=1100,1000", f"--screenshot={shot}",
                    html.as_uri()], capture_output=True, timeout=60, check=True)
    width, height, rows = png_pixels(shot.read_bytes())
    assert (width, height) == (1100, 1000)
    red = sum(1 for row in rows for px in row
              if all(abs(px[i] - AFFECTED_RED[i]) < 12 for i in range(3)))
    affected = result["runs"][0]["stats"]["affected_partitions"]
    # Each affected partition's bar spans several seconds of a ~900-pixel axis.
    assert red > affected * 200, f"only {red} pixels of the affected partitions' colour"
