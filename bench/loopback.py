#!/usr/bin/env python3
"""Loopback TCP baseline: one connection on 127.0.0.1 moving BYTES (default 1 GiB) with 1 MiB
sends and recv_into of 1 MiB; prints {"mb_per_sec": ...} measured at the receiver.

usage: loopback.py [BYTES]
"""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stats import emit  # noqa: E402

CHUNK = 1 << 20


def main():
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 1 << 30
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]

    def sender():
        s = socket.create_connection(("127.0.0.1", port))
        buf = memoryview(os.urandom(CHUNK))
        sent = 0
        while sent < total:
            sent += s.send(buf[: min(CHUNK, total - sent)])
        s.shutdown(socket.SHUT_WR)
        s.close()

    t = threading.Thread(target=sender)
    t.start()
    conn, _ = srv.accept()
    buf = bytearray(CHUNK)
    got = 0
    start = time.monotonic()
    while got < total:
        k = conn.recv_into(buf)
        if not k:
            break
        got += k
    elapsed = time.monotonic() - start
    t.join(60)
    conn.close()
    srv.close()
    emit({"bytes": got, "seconds": elapsed, "mb_per_sec": got / elapsed / (1024 * 1024)})


if __name__ == "__main__":
    main()
