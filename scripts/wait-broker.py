#!/usr/bin/env python3
"""Waits until a zkafka broker is registered in ZooKeeper and its port accepts connections.

usage: wait-broker.py ZK_CONNECT BROKER_ID HOST PORT PID TIMEOUT_S

ZK_CONNECT is the broker's zookeeper.connect (a chroot suffix is honoured). Exits 0 when
<chroot>/brokers/ids/<id> exists and HOST:PORT accepts a TCP connection; 1 if the process PID
exits first or TIMEOUT_S passes.
"""
import logging
import warnings
import os
import socket
import sys
import time

from kazoo.client import KazooClient


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of ours would still answer; we are not its parent, so this is enough
    return True


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def main() -> int:
    zk_connect, broker_id, host, port, pid, timeout = sys.argv[1:7]
    port, pid, deadline = int(port), int(pid), time.monotonic() + float(timeout)
    logging.basicConfig(level=logging.CRITICAL)
    # the chroot does not exist until the broker creates it; kazoo warns about that
    warnings.filterwarnings("ignore", message="No chroot path exists")
    zk = KazooClient(hosts=zk_connect, timeout=5)
    zk.start(timeout=min(15, float(timeout)))
    try:
        path = f"/brokers/ids/{broker_id}"
        registered = False
        while time.monotonic() < deadline:
            if not alive(pid):
                print(f"wait-broker: broker {broker_id} (pid {pid}) exited during start-up", file=sys.stderr)
                return 1
            registered = registered or zk.exists(path) is not None
            if registered and port_open(host, port):
                return 0
            time.sleep(0.2)
        what = "its port never answered" if registered else f"{path} never appeared"
        print(f"wait-broker: broker {broker_id} not ready after {timeout}s: {what}", file=sys.stderr)
        return 1
    finally:
        zk.stop()
        zk.close()


if __name__ == "__main__":
    sys.exit(main())
