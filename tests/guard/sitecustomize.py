"""Loaded by every Python started with this folder on PYTHONPATH (the privacy tests' server).

`COVE_GUARD_LOG=FILE` records, through `sys.addaudithook`, every path the process opens
("open PATH") and every attempt at the network ("net EVENT ARGS"). With
`COVE_GUARD_BLOCK_NET=1` those attempts also fail: an internet socket cannot be made,
connected or resolved. Unix sockets stay allowed: asyncio's event loop wakes itself
through a socketpair, which is no network. The file is written with `os.write` on a
descriptor opened before the hook, so recording an open does not open anything.
"""

from __future__ import annotations

import os
import socket
import sys

NET_FAMILIES = {int(socket.AF_INET), int(socket.AF_INET6)}
NET_EVENTS = {"socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "socket.sendto"}


def _install(log_path: str, block: bool) -> None:
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def record(line: str) -> None:
        os.write(fd, (line.replace("\n", "\\n") + "\n").encode("utf-8", "surrogateescape"))

    def network(event: str, args: tuple) -> bool:
        if event == "socket.__new__":
            return int(args[1]) in NET_FAMILIES
        if event == "socket.connect":
            return int(args[0].family) in NET_FAMILIES
        return event in NET_EVENTS

    def hook(event: str, args: tuple) -> None:
        if event == "open":
            path = args[0]
            if isinstance(path, bytes):
                path = os.fsdecode(path)
            if isinstance(path, str):
                record(f"open {os.path.abspath(path)}")
        elif event.startswith("socket.") and network(event, args):
            record(f"net {event} {args[1:]!r}"[:300])
            if block:
                raise OSError(f"network blocked by the privacy test ({event})")

    sys.addaudithook(hook)
    record(f"guard pid={os.getpid()} block={int(block)}")


if os.environ.get("COVE_GUARD_LOG"):
    _install(os.environ["COVE_GUARD_LOG"], os.environ.get("COVE_GUARD_BLOCK_NET") == "1")
