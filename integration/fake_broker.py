#!/usr/bin/env python3
"""A stand-in for `zkafka server` used only by test_harness.py to exercise the broker fixture:
it speaks `server FILE [--override k=v]...`, registers /brokers/ids/<id> (ephemeral) under the
chroot of zookeeper.connect, listens on the listener's port, prints `zkafka: error: ...` and exits
1 on a bad num.partitions, and exits 0 on SIGTERM after closing its session. It serves no Kafka
protocol at all."""
import json
import signal
import socket
import sys
import time
import warnings


def fail(msg):
    print(f"zkafka: error: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def main():
    args = sys.argv[1:]
    if len(args) < 2 or args[0] != "server":
        fail("usage: zkafka server FILE [--override key=value]...")
    props = {}
    try:
        text = open(args[1]).read()
    except OSError as e:
        fail(f"cannot read {args[1]}: {e.strerror}")
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            k, _, v = line.partition("=")
            props[k.strip()] = v.strip()
    rest = args[2:]
    while rest:
        if rest[0] != "--override" or len(rest) < 2 or "=" not in rest[1]:
            fail(f"bad argument {' '.join(rest[:2])!r}: expected --override key=value")
        k, _, v = rest[1].partition("=")
        props[k] = v
        rest = rest[2:]
    if "zookeeper.connect" not in props:
        fail("missing required config zookeeper.connect")
    if not props.get("num.partitions", "1").isdigit():
        fail(f"invalid value {props['num.partitions']!r} for num.partitions: not an integer")
    broker_id = props["broker.id"]
    host, port = props["listeners"].split("://", 1)[1].rsplit(":", 1)

    warnings.filterwarnings("ignore")
    from kazoo.client import KazooClient

    connect = props["zookeeper.connect"]
    servers, _, chroot = connect.partition("/")
    session_s = int(props.get("zookeeper.session.timeout.ms", "6000")) / 1000
    root = KazooClient(hosts=servers, timeout=session_s)
    root.start(timeout=10)
    if chroot:
        root.ensure_path("/" + chroot)
    root.stop()
    zk = KazooClient(hosts=connect, timeout=session_s)
    zk.start(timeout=10)
    path = f"/brokers/ids/{broker_id}"
    zk.ensure_path("/brokers/ids")
    if zk.exists(path):
        fail(f"broker id {broker_id} is already registered at {path}")
    reg = {"endpoints": [f"PLAINTEXT://{host}:{port}"], "host": host, "port": int(port), "version": 5}
    zk.create(path, json.dumps(reg, separators=(",", ":")).encode(), ephemeral=True)

    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, int(port)))
    srv.listen(16)
    print(f"fake broker {broker_id} up on {host}:{port}", file=sys.stderr, flush=True)

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    srv.settimeout(0.1)
    while not stop:
        try:
            conn, _ = srv.accept()
            conn.close()
        except socket.timeout:
            pass
        except InterruptedError:
            pass
    zk.stop()
    zk.close()
    print("fake broker stopped", file=sys.stderr, flush=True)
    time.sleep(0.05)
    sys.exit(0)


if __name__ == "__main__":
    main()
