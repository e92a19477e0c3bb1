"""ZooKeeper processes for the integration tests: a standalone ZooKeeper from Debian's package
(started on a free port with a temporary data dir, stopped by pid) and a three-member ensemble
whose members can be killed one by one. The fixtures around them live in conftest.py.
"""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

from helpers import free_port, port_accepts, wait_until

ZK_CLASSPATH = os.environ.get(
    "ZKAFKA_ZK_CLASSPATH", "/etc/zookeeper/conf_example:/usr/share/java/zookeeper.jar"
)
ZK_MAIN = "org.apache.zookeeper.server.quorum.QuorumPeerMain"


# --------------------------------------------------------------------------------------------
# ZooKeeper
# --------------------------------------------------------------------------------------------


class ZooKeeper:
    """A standalone ZooKeeper (Debian's zookeeper.jar) on 127.0.0.1:<port> with data in workdir."""

    def __init__(self, workdir: Path, port: int | None = None, sasl_users: dict[str, str] | None = None):
        """`sasl_users` (name -> password): SASL DIGEST-MD5 through a JAAS `Server` section, as a
        secured ensemble runs it; unauthenticated clients may still connect (and read what the
        znodes' ACLs let the world read)."""
        self.workdir = Path(workdir)
        self.sasl_users = sasl_users
        self.port = port or free_port()
        self.datadir = self.workdir / "data"
        self.cfg = self.workdir / "zoo.cfg"
        self.log_path = self.workdir / "zookeeper.log"
        self.proc: subprocess.Popen | None = None

    @property
    def hosts(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def _write_cfg(self) -> None:
        self.datadir.mkdir(parents=True, exist_ok=True)
        self.cfg.write_text(
            "\n".join(
                [
                    "tickTime=500",
                    "initLimit=10",
                    "syncLimit=5",
                    f"dataDir={self.datadir}",
                    f"clientPort={self.port}",
                    "clientPortAddress=127.0.0.1",
                    "maxClientCnxns=0",
                    "admin.enableServer=false",
                    "4lw.commands.whitelist=ruok,srvr,stat,mntr,cons",
                    *(["authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider"]
                      if self.sasl_users else []),
                    "",
                ]
            )
        )
        if self.sasl_users:
            users = "\n".join(f'    user_{u}="{p}"' for u, p in self.sasl_users.items())
            self.jaas.write_text(
                f"Server {{\n    org.apache.zookeeper.server.auth.DigestLoginModule required\n{users};\n}};\n")

    @property
    def jaas(self) -> Path:
        return self.workdir / "zookeeper-jaas.conf"

    def four_letter(self, word: str, timeout: float = 2.0) -> str:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
                s.sendall(word.encode())
                chunks = []
                while True:
                    b = s.recv(4096)
                    if not b:
                        break
                    chunks.append(b)
                return b"".join(chunks).decode(errors="replace")
        except OSError:
            return ""

    def ruok(self) -> bool:
        return self.four_letter("ruok") == "imok"

    def serving(self) -> bool:
        """ruok answers imok before the server takes sessions; srvr tells when it does."""
        return self.ruok() and "Mode:" in self.four_letter("srvr")

    def start(self, timeout: float = 30.0) -> None:
        assert self.proc is None or self.proc.poll() is not None, "ZooKeeper already running"
        self._write_cfg()
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            ["java", f"-Dzookeeper.log.dir={self.workdir}",
             *([f"-Djava.security.auth.login.config={self.jaas}"] if self.sasl_users else []),
             "-cp", ZK_CLASSPATH, ZK_MAIN, str(self.cfg)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.workdir,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"ZooKeeper exited with {self.proc.returncode} during start-up:\n{self.log_tail()}"
                )
            if self.serving():
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"ZooKeeper did not answer ruok within {timeout}s:\n{self.log_tail()}")

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM by pid, wait; SIGKILL if it does not go."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        # the port must be free again before a restart binds it
        wait_until(lambda: not port_accepts("127.0.0.1", self.port), timeout=10, what="ZooKeeper port to close")

    def restart(self, down_for: float = 0.0) -> None:
        """Stops and starts again on the same port with the same data (sessions may survive)."""
        self.stop()
        if down_for:
            time.sleep(down_for)
        self.start()

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no ZooKeeper log)"


# --------------------------------------------------------------------------------------------
# A three-member ZooKeeper ensemble (cluster fault tests)
# --------------------------------------------------------------------------------------------


class EnsembleMember(ZooKeeper):
    """One member of a ZooKeeperEnsemble: a ZooKeeper with a myid file and server.N lines."""

    def __init__(self, workdir: Path, myid: int, servers: dict, port: int):
        super().__init__(workdir, port)
        self.myid = myid
        self.servers = servers  # myid -> (client port, peer port, election port)

    def _write_cfg(self) -> None:
        super()._write_cfg()
        (self.datadir / "myid").write_text(f"{self.myid}\n")
        lines = [f"server.{n}=127.0.0.1:{peer}:{election}" for n, (_, peer, election) in sorted(self.servers.items())]
        with open(self.cfg, "a") as f:
            f.write("\n".join(lines) + "\n")

    def mode(self) -> str | None:
        """'leader', 'follower' (or 'standalone'), from srvr; None if not serving."""
        m = re.search(r"^Mode: (\w+)", self.four_letter("srvr"), re.M)
        return m.group(1) if m else None

    def serving(self) -> bool:
        return self.ruok() and self.mode() in ("leader", "follower")

    def launch(self) -> None:
        """Starts the JVM without waiting: a member serves only once a quorum has formed."""
        assert self.proc is None or self.proc.poll() is not None, "member already running"
        self._write_cfg()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                ["java", "-Xmx128m", f"-Dzookeeper.log.dir={self.workdir}", "-cp", ZK_CLASSPATH, ZK_MAIN,
                 str(self.cfg)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.workdir,
            )


class ZooKeeperEnsemble:
    """Three ZooKeeper servers on free ports forming one ensemble. `hosts` lists all three, so it can
    stand in for a ZooKeeper wherever only `.hosts` is used (BrokerFactory, kazoo_client)."""

    def __init__(self, workdir: Path, size: int = 3):
        self.workdir = Path(workdir)
        servers = {n: (free_port(), free_port(), free_port()) for n in range(1, size + 1)}
        self.members = {
            n: EnsembleMember(self.workdir / f"zk{n}", n, servers, ports[0]) for n, ports in servers.items()
        }

    @property
    def hosts(self) -> str:
        return ",".join(m.hosts for m in self.members.values())

    def start(self, timeout: float = 60.0) -> None:
        for m in self.members.values():
            m.launch()
        self.wait_serving(list(self.members), timeout)

    def wait_serving(self, ids, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for n in ids:
                m = self.members[n]
                if m.proc.poll() is not None:
                    raise RuntimeError(f"ZooKeeper {n} exited with {m.proc.returncode}:\n{m.log_tail()}")
            if all(self.members[n].serving() for n in ids):
                return
            time.sleep(0.2)
        tails = "\n".join(f"--- zk{n} (mode {self.members[n].mode()}):\n{self.members[n].log_tail(20)}" for n in ids)
        raise RuntimeError(f"ensemble not serving within {timeout}s:\n{tails}")

    def leader(self) -> int | None:
        for n, m in self.members.items():
            if m.running() and m.mode() == "leader":
                return n
        return None

    def modes(self) -> dict:
        return {n: (m.mode() if m.running() else "down") for n, m in self.members.items()}

    def stop(self) -> None:
        for m in self.members.values():
            m.stop()

    def running(self) -> bool:
        return all(m.running() for m in self.members.values())

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(f"--- zk{n}:\n{m.log_tail(lines)}" for n, m in self.members.items())
