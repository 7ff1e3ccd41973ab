"""Ports for servers that a test starts in another process, where an ephemeral port (bind to 0) cannot
be handed over already bound."""

from __future__ import annotations

import random
import socket
from pathlib import Path


def _lowest_ephemeral_port() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def free_port() -> int:
    """A port free now, for a server another process will open (a subprocess CLI, a PostgreSQL that
    stops and starts again), taken outside the range the kernel hands out to outgoing connections: until
    that server binds it, and again while it is stopped, any connection made on the machine (the other
    xdist worker's, to its database or its fakes) could otherwise be given it as its local port."""
    low = _lowest_ephemeral_port()
    candidates = list(range(max(1024, low - 12_000), low))
    # The system's randomness, not the random module's: a test may have seeded that, and two workers
    # would then try the same ports in the same order.
    random.SystemRandom().shuffle(candidates)
    for port in candidates:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as probe:  # nothing free below the range: any port, as before
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
