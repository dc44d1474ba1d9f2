"""MQTT over TLS with a password: a test CA made with openssl, mosquitto with a TLS-only listener."""

from __future__ import annotations

import asyncio
import logging
import shutil
import ssl
import subprocess
from pathlib import Path

import aiomqtt
import pytest

from mqtt_broker import MOSQUITTO, Broker
from voxstream.config import MqttConfig
from voxstream.engine.events import EmotionEvent
from voxstream.engine.params import FeatureParams
from voxstream.errors import ConfigError
from voxstream.inference.card import LABELS, ModelCard
from voxstream.publish.homeassistant import Topics
from voxstream.publish.mqtt import MqttPublisher
from waiting import until as _until

T = 5.0
USER, PASSWORD = "vox", "p4ss-Secret-91"
NODE = "tlsnode"

pytestmark = pytest.mark.skipif(
    not (shutil.which("openssl") and shutil.which("mosquitto_passwd") and Path(MOSQUITTO).exists()),
    reason="needs openssl, mosquitto and mosquitto_passwd",
)


def _run(*args: str, cwd: Path) -> None:
    subprocess.run(args, cwd=cwd, check=True, capture_output=True, timeout=30)


def make_pki(d: Path) -> None:
    """A CA and a server certificate for DNS:localhost only (so 127.0.0.1 fails host-name verification)."""
    d.mkdir(parents=True, exist_ok=True)
    _run(
        "openssl",
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
        "/CN=voxstream test CA",
        cwd=d,
    )
    _run(
        "openssl",
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
        cwd=d,
    )
    (d / "ext.cnf").write_text("subjectAltName=DNS:localhost\n")
    _run(
        "openssl",
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
        cwd=d,
    )
    (d / "passwd").write_text("")
    _run("mosquitto_passwd", "-b", "passwd", USER, PASSWORD, cwd=d)
    for name in ("server.key", "passwd"):
        (d / name).chmod(0o600)


@pytest.fixture
def tls_broker(tmp_path):
    pki = tmp_path / "pki"
    make_pki(pki)
    broker = Broker(
        tmp_path / "mosquitto",
        anonymous=False,
        extra=[
            f"cafile {pki / 'ca.crt'}",
            f"certfile {pki / 'server.crt'}",
            f"keyfile {pki / 'server.key'}",
            f"password_file {pki / 'passwd'}",
        ],
    ).start()
    broker.pki = pki
    yield broker
    broker.stop()


def card() -> ModelCard:
    return ModelCard(
        name="m",
        arch="mlp",
        labels=LABELS,
        features=FeatureParams(),
        input_shape=(1, 40, 1),
        tflite_file="m.tflite",
        tflite_sha256="0" * 64,
    )


def tls_config(broker, **kw) -> MqttConfig:
    return MqttConfig(
        **{
            "host": "localhost",
            "port": broker.port,
            "tls": True,
            "ca_file": str(broker.pki / "ca.crt"),
            "username": USER,
            "password": PASSWORD,
            "reconnect_min_s": 0.05,
            "reconnect_max_s": 0.2,
            "discovery": False,
            **kw,
        }
    )


def _failed_attempt(record: logging.LogRecord) -> bool:
    """The publisher's own line for a connection attempt that failed (WARNING first, then DEBUG)."""
    return record.name == "voxstream.publish.mqtt" and record.getMessage().startswith("MQTT broker ")


async def test_tls_with_password_connects_and_publishes(tls_broker, caplog):
    """With the CA file and the right password the node is online over TLS; the password is never logged."""
    caplog.set_level(logging.DEBUG)
    cfg = tls_config(tls_broker)
    assert PASSWORD not in repr(cfg)
    async with MqttPublisher(cfg, NODE, card()) as pub:
        await _until(lambda: pub.connected)
        await pub.publish(
            EmotionEvent(
                seq=0,
                stream_time_s=2.0,
                label="happy",
                confidence=0.9,
                raw_label="happy",
                scores={k: 0.9 if k == "happy" else 0.02 for k in LABELS},
                speech=True,
                level_dbfs=-20.0,
                node=NODE,
                model="m",
            )
        )  # online follows the first state
        tls = aiomqtt.TLSParameters(ca_certs=cfg.ca_file, cert_reqs=ssl.CERT_REQUIRED)
        async with aiomqtt.Client(
            "localhost", tls_broker.port, username=USER, password=PASSWORD, tls_params=tls
        ) as sub:
            await asyncio.wait_for(sub.subscribe(Topics.for_node(cfg, NODE).status), T)
            message = await asyncio.wait_for(anext(aiter(sub.messages)), T)
            assert message.payload == b"online" and message.retain
    assert PASSWORD not in caplog.text


async def test_tls_rejects_wrong_password_plain_tcp_and_wrong_host_name(tls_broker, caplog):
    """A wrong password, a plain-TCP client and a host-name mismatch never connect; tls_insecure allows the last."""
    caplog.set_level(logging.DEBUG)
    bad = [
        tls_config(tls_broker, password="wrong-password"),
        tls_config(tls_broker, tls=False),
        tls_config(tls_broker, host="127.0.0.1"),
    ]
    for cfg in bad:
        seen = len(caplog.records)
        async with MqttPublisher(cfg, NODE, card()) as pub:
            # an attempt that ended in failure (plain TCP only times out, after 5 s); an accepted one connects
            # B023: the lambda is awaited in this iteration, before `seen` changes
            await _until(lambda: any(_failed_attempt(r) for r in caplog.records[seen:]), timeout=30)  # noqa: B023
            assert pub.connections == 0, f"connected with {cfg!r}"
    assert "wrong-password" not in caplog.text and PASSWORD not in caplog.text
    async with MqttPublisher(tls_config(tls_broker, host="127.0.0.1", tls_insecure=True), NODE, card()) as pub:
        await _until(lambda: pub.connected)


async def test_missing_ca_file_is_a_config_error(tmp_path):
    """A TLS config naming a CA file that does not exist fails at once with the key's name."""
    cfg = MqttConfig(tls=True, ca_file=str(tmp_path / "nope.crt"))
    with pytest.raises(ConfigError, match="mqtt.ca_file"):
        MqttPublisher(cfg, NODE, card())
