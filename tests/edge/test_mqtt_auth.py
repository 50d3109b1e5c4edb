"""MqttSource's credentials against a real Mosquitto: a password file, mutual TLS, and a
wrong password that is counted as refused (and retried) rather than crashing."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import paho.mqtt.client as paho
from mosquitto import mosquitto
from paho.mqtt.enums import CallbackAPIVersion

from edge.acquire.mqtt import MqttConfig, MqttDevice, MqttSource, TlsSettings

WAIT = 20.0
TOPIC = "steward/access/ctrl-b1/event"
DEVICE = MqttDevice(id="ctrl-b1", map="steward/access-v1", door="door-101")
GRANT = json.dumps({"v": 1, "event": "access.granted", "credential": "04A1B2C3"})


def publish(port: int, payload: str, **tls) -> None:
    pub = paho.Client(CallbackAPIVersion.VERSION2, client_id="test-publisher")
    if tls:
        pub.tls_set(**tls)
    pub.username_pw_set("device", "device-secret")
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    pub.publish(TOPIC, payload, qos=1).wait_for_publish(WAIT)
    pub.disconnect()
    pub.loop_stop()


def passwords(tmp_path: Path) -> Path:
    pw = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(pw), "edge", "s3cret"], check=True)
    subprocess.run(["mosquitto_passwd", "-b", str(pw), "device", "device-secret"], check=True)
    return pw


def test_username_and_password_file_connect_and_receive(tmp_path):
    pw = passwords(tmp_path)
    secret = tmp_path / "edge.password"
    secret.write_text("s3cret\n")  # a trailing newline, as editors write it

    async def scenario(port: int):
        cfg = MqttConfig(port=port, devices=[DEVICE], username="edge", password_file=secret)
        async with MqttSource(cfg) as source:
            await asyncio.wait_for(source.ready(), WAIT)
            await asyncio.to_thread(publish, port, GRANT)
            return await asyncio.wait_for(source.__anext__(), WAIT)

    with mosquitto(tmp_path, ["allow_anonymous false", f"password_file {pw}"]) as broker:
        event = asyncio.run(scenario(broker.port))
    assert (event.kind, event.credential, event.door) == ("access.granted", "04A1B2C3", "door-101")


def test_a_wrong_password_is_counted_as_refused_and_never_raises(tmp_path):
    pw = passwords(tmp_path)
    secret = tmp_path / "edge.password"
    secret.write_text("wrong")

    async def scenario(port: int) -> dict:
        cfg = MqttConfig(port=port, devices=[DEVICE], username="edge", password_file=secret)
        async with MqttSource(cfg) as source:
            for _ in range(int(WAIT * 10)):
                if source.counts()["connect_refusals"]:
                    break
                await asyncio.sleep(0.1)
            return source.counts()

    with mosquitto(tmp_path, ["allow_anonymous false", f"password_file {pw}"]) as broker:
        counts = asyncio.run(scenario(broker.port))
    assert counts["connect_refusals"] >= 1 and counts["connects"] == 0


def make_pki(d: Path) -> None:
    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)

    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=steward-test-ca",
    )
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name in ("server", "client"):
        run(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.csr",
            "-subj",
            f"/CN={name}",
        )
        run(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            f"{name}.crt",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        )


def test_mutual_tls_with_ca_and_client_certificate(tmp_path):
    pki = tmp_path / "pki"
    pki.mkdir()
    make_pki(pki)
    tls = TlsSettings(
        ca_file=pki / "ca.crt", cert_file=pki / "client.crt", key_file=pki / "client.key"
    )
    extra = [
        f"cafile {pki / 'ca.crt'}",
        f"certfile {pki / 'server.crt'}",
        f"keyfile {pki / 'server.key'}",
        "require_certificate true",
        "allow_anonymous true",
    ]

    async def scenario(port: int):
        async with MqttSource(MqttConfig(port=port, devices=[DEVICE], tls=tls)) as source:
            await asyncio.wait_for(source.ready(), WAIT)
            await asyncio.to_thread(
                publish,
                port,
                GRANT,
                ca_certs=str(pki / "ca.crt"),
                certfile=str(pki / "client.crt"),
                keyfile=str(pki / "client.key"),
            )
            return await asyncio.wait_for(source.__anext__(), WAIT)

    with mosquitto(tmp_path, extra) as broker:
        event = asyncio.run(scenario(broker.port))
    assert (event.kind, event.credential) == ("access.granted", "04A1B2C3")
