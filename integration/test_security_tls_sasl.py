"""TLS and SASL listeners (docs/security.md) with real clients: kcat and confluent-kafka over SSL
with mutual TLS, SASL_PLAINTEXT and SASL_SSL with PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 (SCRAM
users written by Kafka's own kafka-configs into ZooKeeper while the broker runs), a wrong password
refused, Kafka's Java client over SASL_SSL, and a three-broker cluster replicating over a SASL_SSL
inter-broker listener. Certificates are made with openssl for each run."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer

from helpers import free_port, kcat, unique_topic, wait_until
from reference import kafka_tool

pytestmark = pytest.mark.security

JAAS_PLAIN = ('org.apache.kafka.common.security.plain.PlainLoginModule required '
              'username="admin" password="admin-secret" user_admin="admin-secret" user_alice="alice-secret";')
JAAS_SCRAM = ('org.apache.kafka.common.security.scram.ScramLoginModule required '
              'username="admin" password="admin-secret";')


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Path:
    """A CA, a server certificate for localhost/127.0.0.1 (PEM and PKCS12) and a client
    certificate whose subject is O=zkafka, OU=eng, CN=client."""
    d = tmp_path_factory.mktemp("certs")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
            "-keyout", "ca.key", "-out", "ca.pem", cwd=d)
    (d / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    # webpki accepts X.509 v3 certificates only: extensions make openssl write v3.
    (d / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for name, subj, ext in [("server", "/CN=localhost", ["-extfile", "san.ext"]),
                            ("client", "/O=zkafka/OU=eng/CN=client", ["-extfile", "client.ext"])]:
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", subj, "-keyout", f"{name}.key",
                "-out", f"{name}.csr", cwd=d)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-out", f"{name}.pem", *ext, cwd=d)
    (d / "server-keystore.pem").write_text((d / "server.pem").read_text() + (d / "server.key").read_text())
    openssl("pkcs12", "-export", "-in", "server.pem", "-inkey", "server.key", "-certfile", "ca.pem",
            "-out", "server.p12", "-passout", "pass:p12-secret", cwd=d)
    return d


def secure_props(certs: Path, ports: dict) -> dict:
    """Four listeners on one broker; PLAINTEXT last (the harness waits for the last port)."""
    ls = ",".join(f"{n}://127.0.0.1:{p}" for n, p in ports.items())
    return {
        "listeners": ls,
        "advertised.listeners": ls,
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(certs / "server-keystore.pem"),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(certs / "ca.pem"),
        "listener.name.ssl.ssl.client.auth": "required",
        # PKCS12 on the SASL_SSL listener.
        "listener.name.sasl_ssl.ssl.keystore.type": "PKCS12",
        "listener.name.sasl_ssl.ssl.keystore.location": str(certs / "server.p12"),
        "listener.name.sasl_ssl.ssl.keystore.password": "p12-secret",
        "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
        "listener.name.sasl_plaintext.plain.sasl.jaas.config": JAAS_PLAIN,
        "listener.name.sasl_ssl.plain.sasl.jaas.config": JAAS_PLAIN,
        "connection.failed.authentication.delay.ms": "100",
    }


@pytest.fixture
def secure_broker(broker_factory, certs):
    ports = {n: free_port() for n in ["SSL", "SASL_PLAINTEXT", "SASL_SSL", "PLAINTEXT"]}
    b = broker_factory(1, overrides=secure_props(certs, ports))
    b.secure_ports = ports
    return b


def add_scram_user(zk_connect: str, user: str, password: str) -> None:
    """Kafka's own tool, writing /config/users/<user> and a /config/changes notification."""
    kafka_tool("kafka-configs", "--zookeeper", zk_connect, "--alter", "--add-config",
               f"SCRAM-SHA-256=[iterations=4096,password={password}],"
               f"SCRAM-SHA-512=[password={password}]",
               "--entity-type", "users", "--entity-name", user)


def ck_conf(certs: Path, port: int, protocol: str, mechanism: str | None = None,
            user: str | None = None, password: str | None = None) -> dict:
    conf = {"bootstrap.servers": f"127.0.0.1:{port}", "security.protocol": protocol,
            "socket.timeout.ms": 10000, "message.timeout.ms": 15000}
    if "SSL" in protocol:
        conf["ssl.ca.location"] = str(certs / "ca.pem")
    if mechanism:
        conf.update({"sasl.mechanism": mechanism, "sasl.username": user, "sasl.password": password})
    return conf


def roundtrip(conf: dict, topic: str, n: int = 5) -> list[bytes]:
    p = Producer(conf)
    for i in range(n):
        p.produce(topic, value=f"v{i}".encode())
    assert p.flush(20) == 0, "records not delivered"
    c = Consumer({**conf, "group.id": unique_topic("g"), "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    got = []
    deadline = time.monotonic() + 20
    while len(got) < n and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            got.append(m.value())
    c.close()
    return got


def auth_error(conf: dict) -> str:
    """What librdkafka reports (error_cb) when its login is refused."""
    errors = []
    p = Producer({**conf, "error_cb": lambda e: errors.append(str(e))})
    deadline = time.monotonic() + 10
    while not any("Authentication" in e for e in errors) and time.monotonic() < deadline:
        p.poll(0.2)
    return " ".join(errors)


def test_mutual_tls_with_kcat_and_confluent_kafka(secure_broker, certs):
    port = secure_broker.secure_ports["SSL"]
    topic = unique_topic("tls")
    tls = ["-X", "security.protocol=SSL", "-X", f"ssl.ca.location={certs / 'ca.pem'}",
           "-X", f"ssl.certificate.location={certs / 'client.pem'}",
           "-X", f"ssl.key.location={certs / 'client.key'}"]
    kcat("-b", f"127.0.0.1:{port}", *tls, "-P", "-t", topic, input="a\nb\nc\n")
    out = kcat("-b", f"127.0.0.1:{port}", *tls, "-C", "-t", topic, "-o", "beginning", "-e", "-q").stdout
    assert out.split() == ["a", "b", "c"]
    # Kafka's DEFAULT principal mapping: the subject in RFC 2253 order.
    wait_until(lambda: "User:CN=client,OU=eng,O=zkafka" in secure_broker.log_text(), 5,
               what="the client certificate's principal in the broker log")
    conf = {**ck_conf(certs, port, "SSL"), "ssl.certificate.location": str(certs / "client.pem"),
            "ssl.key.location": str(certs / "client.key")}
    assert roundtrip(conf, unique_topic("tls")) == [f"v{i}".encode() for i in range(5)]
    # ssl.client.auth=required: no client certificate, no connection.
    cp = kcat("-b", f"127.0.0.1:{port}", "-X", "security.protocol=SSL", "-X",
              f"ssl.ca.location={certs / 'ca.pem'}", "-L", "-m", "3", check=False, timeout=20)
    assert cp.returncode != 0


def test_sasl_mechanisms_log_in_and_wrong_passwords_are_refused(secure_broker, certs):
    # Added while the broker runs: picked up at the next login.
    add_scram_user(secure_broker.zk_connect, "alice", "alice-secret")
    for mechanism in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]:
        for listener in ["SASL_PLAINTEXT", "SASL_SSL"]:
            conf = ck_conf(certs, secure_broker.secure_ports[listener], listener, mechanism,
                           "alice", "alice-secret")
            assert roundtrip(conf, unique_topic("sasl"), 3) == [b"v0", b"v1", b"v2"], \
                (mechanism, listener)
        bad = ck_conf(certs, secure_broker.secure_ports["SASL_PLAINTEXT"], "SASL_PLAINTEXT",
                      mechanism, "alice", "wrong")
        err = auth_error(bad)
        assert "Authentication failed" in err, (mechanism, err)
    assert "SASL authentication succeeded principal=User:alice mechanism=SCRAM-SHA-512" in \
        secure_broker.log_text()


def test_unauthenticated_requests_close_the_connection(secure_broker):
    # Metadata before SaslHandshake on a SASL listener: Kafka closes the connection.
    cp = kcat("-b", f"127.0.0.1:{secure_broker.secure_ports['SASL_PLAINTEXT']}", "-L", "-m", "3",
              check=False, timeout=20)
    assert cp.returncode != 0
    wait_until(lambda: "during SASL handshake" in secure_broker.log_text(), 5, what="log line")


def test_java_client_over_sasl_ssl(secure_broker, certs):
    add_scram_user(secure_broker.zk_connect, "bob", "bob-secret")
    cfg = secure_broker.workdir / "client.properties"
    cfg.write_text(
        "security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\n"
        f"ssl.truststore.type=PEM\nssl.truststore.location={certs / 'ca.pem'}\n"
        'sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required '
        'username="bob" password="bob-secret";\n')
    topic = unique_topic("java")
    bootstrap = f"localhost:{secure_broker.secure_ports['SASL_SSL']}"
    kafka_tool("kafka-console-producer", "--bootstrap-server", bootstrap, "--topic", topic,
               "--producer.config", str(cfg), input="j1\nj2\n")
    out = kafka_tool("kafka-console-consumer", "--bootstrap-server", bootstrap, "--topic", topic,
                     "--consumer.config", str(cfg), "--from-beginning", "--max-messages", "2",
                     "--timeout-ms", "20000").stdout
    assert out.split() == ["j1", "j2"]


def test_three_brokers_replicate_over_sasl_ssl(broker_factory, certs, zk_root, chroot):
    # The admin user must exist before the brokers log in to each other (Kafka's tool needs the
    # chroot to exist).
    zk_root.ensure_path(chroot)
    kafka_tool("kafka-configs", "--zookeeper", broker_factory.zookeeper.hosts + chroot, "--alter",
               "--add-config", "SCRAM-SHA-512=[password=admin-secret]",
               "--entity-type", "users", "--entity-name", "admin")
    brokers = []
    for i in (1, 2, 3):
        ports = {"SASL_SSL": free_port(), "PLAINTEXT": free_port()}
        ls = ",".join(f"{n}://localhost:{p}" for n, p in ports.items())
        props = {
            "listeners": ls, "advertised.listeners": ls,
            "inter.broker.listener.name": "SASL_SSL",
            "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
            "sasl.enabled.mechanisms": "SCRAM-SHA-512",
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": JAAS_SCRAM,
            "ssl.keystore.type": "PEM", "ssl.keystore.location": str(certs / "server-keystore.pem"),
            "ssl.truststore.type": "PEM", "ssl.truststore.location": str(certs / "ca.pem"),
            "default.replication.factor": "3", "min.insync.replicas": "2",
        }
        brokers.append(broker_factory(i, overrides=props, wait=False))
    for b in brokers:
        b.wait_ready()
    topic = unique_topic("repl")
    kcat("-b", brokers[0].bootstrap.replace("127.0.0.1", "localhost"), "-P", "-t", topic,
         "-X", "acks=all", input="r1\nr2\nr3\n", timeout=60)

    def replicated() -> bool:
        return all(any(f.stat().st_size > 0 for f in b.segment_files(topic, 0)) for b in brokers
                   if b.partition_dir(topic, 0).exists()) and \
            all(b.partition_dir(topic, 0).exists() for b in brokers)
    wait_until(replicated, 30, what="the records on all three brokers")
    assert "SASL authentication succeeded" in "".join(b.log_text() for b in brokers)
