"""``voxstream fleet``: every node on one page, from the MQTT broker they all publish to."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging

from voxstream.cli.common import config_from_args
from voxstream.errors import ConfigError
from voxstream.fleet.mqtt import FleetSubscriber
from voxstream.fleet.server import FleetServer
from voxstream.fleet.state import Fleet, FleetLimits
from voxstream.held_signals import loop_stop_handlers

_LOGGER = logging.getLogger(__name__)


def register(sub) -> None:
    p = sub.add_parser(
        "fleet",
        help="one page for every node publishing to the MQTT broker",
        description="Subscribe to <prefix>/+/emotion and <prefix>/+/status and serve a page, "
        "/api/nodes and a WebSocket with every node's state. MQTT settings, TLS and "
        "auth come from the config's [mqtt] table, as for `voxstream run`; the page's "
        "token and allowed origins from [websocket].",
    )
    p.add_argument("--config", metavar="PATH", help="config file (default: $VOXSTREAM_CONFIG or ./config.toml)")
    p.add_argument("--mqtt-host")
    p.add_argument("--mqtt-port", type=int)
    p.add_argument("--host", default="127.0.0.1", help="listen address of the page (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8766, help="port of the page (default 8766; 0 picks one)")
    p.add_argument(
        "--max-nodes",
        type=int,
        default=FleetLimits.max_nodes,
        metavar="N",
        help=f"nodes kept at once; the offline node seen longest ago makes room (default {FleetLimits.max_nodes})",
    )
    p.add_argument(
        "--interval",
        type=float,
        default=0.25,
        metavar="S",
        help="seconds between page updates (changes are coalesced per node; default 0.25)",
    )
    p.set_defaults(func=cmd_fleet)


def cmd_fleet(args: argparse.Namespace) -> int:
    if args.max_nodes < 1 or not 0.02 <= args.interval <= 10 or not 0 <= args.port <= 65535:
        raise ConfigError("fleet: --max-nodes must be >= 1, --interval in [0.02, 10] s and --port 0-65535")
    cfg = config_from_args(args)
    fleet = Fleet(cfg.mqtt.prefix, FleetLimits(max_nodes=args.max_nodes))
    asyncio.run(_main(cfg, fleet, args.host, args.port, args.interval))
    _LOGGER.info("fleet stopped: %s", fleet.stats())
    return 0


async def _main(cfg, fleet: Fleet, host: str, port: int, interval_s: float) -> None:
    """Serve until Ctrl-C or SIGTERM."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    with loop_stop_handlers(loop, stop.set):
        async with contextlib.AsyncExitStack() as stack:
            server = FleetServer(fleet, cfg.websocket, host, port, interval_s=interval_s)
            mqtt = FleetSubscriber(cfg.mqtt, fleet, server.mark)
            server.broker = lambda: {
                "connected": mqtt.connected,
                "host": cfg.mqtt.host,
                "port": cfg.mqtt.port,
                "dropped": mqtt.dropped,
            }
            await stack.enter_async_context(server)
            await stack.enter_async_context(mqtt)
            await stop.wait()
            _LOGGER.info("interrupted")
