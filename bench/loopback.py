#!/usr/bin/env python3
"""Loopback TCP baselines: one connection on 127.0.0.1 moving BYTES (default 1 GiB) with 1 MiB
sends and recv_into of 1 MiB; prints {"mb_per_sec": ...} measured at the receiver.

With DIR, the receiver also writes every chunk it receives to a file in DIR (page cache, no
fsync, like the broker's appends; the file is removed): a "broker" with no Kafka logic at all,
the ceiling for anything fed over TCP.

usage: loopback.py [BYTES] [DIR]
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
    directory = sys.argv[2] if len(sys.argv) > 2 else None
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

    path = os.path.join(directory, "loopback-to-file.tmp") if directory else None
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644) if path else None
    t = threading.Thread(target=sender)
    t.start()
    conn, _ = srv.accept()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    got = 0
    start = time.monotonic()
    try:
        while got < total:
            k = conn.recv_into(buf)
            if not k:
                break
            written = 0
            while fd is not None and written < k:
                written += os.write(fd, view[written:k])
            got += k
        elapsed = time.monotonic() - start
    finally:
        if fd is not None:
            os.close(fd)
            os.unlink(path)
    t.join(60)
    conn.close()
    srv.close()
    emit({"bytes": got, "seconds": elapsed, "mb_per_sec": got / elapsed / (1024 * 1024)})


if __name__ == "__main__":
    main()
