"""``--scheduler tcp://HOST:PORT``: the address checked, then the peer, before Dask's client is made.

Dask's client waits on a peer that accepts and never answers (a firewall, another service: over 12
minutes measured) and reads the first 8 bytes any server sends as a frame length (an HTTP answer
became a multi-exabyte MemoryError). So: a connect timeout, then Dask's handshake read here with a
time limit and a size bound: a Dask comm endpoint writes its handshake (a small msgpack frame naming
``compression`` and ``pickle-protocol``) as soon as it accepts.
"""

from __future__ import annotations

import re
import socket
import struct
from typing import Optional

from ..errors import ClassificationError

CONNECT_TIMEOUT_S = 10.0
HANDSHAKE_TIMEOUT_S = 10.0
MAX_HANDSHAKE_BYTES = 1 << 20
_OTHER_PROTOCOL = re.compile(r"^(tls|ucx|inproc)://\S+$")
_ADDRESS = re.compile(r"^(?:tcp://)?(?P<host>\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):(?P<port>\d{1,5})$")


def parse_address(address: str) -> tuple[str, int]:
    """``tcp://HOST:PORT`` (or ``HOST:PORT``) -> (host, port); anything else one readable line."""
    if _OTHER_PROTOCOL.match(str(address)):
        return str(address), 0
    m = _ADDRESS.match(str(address).strip())
    port = int(m["port"]) if m else 0
    if not m or not 1 <= port <= 65535:
        raise ClassificationError(
            f"--scheduler takes 'local' or a Dask scheduler address tcp://HOST:PORT (port 1-65535), got {address!r}"
        )
    return m["host"].strip("[]"), port


def _read(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def check_scheduler(
    address: str, connect_timeout: Optional[float] = None, read_timeout: Optional[float] = None
) -> None:
    """Connect to ``address`` within ``connect_timeout`` s and read Dask's handshake within
    ``read_timeout`` s; a readable ClassificationError when the peer is absent, silent or not Dask."""
    if _OTHER_PROTOCOL.match(str(address)):
        return  # tls://, ucx://, inproc://: Dask's client checks these itself (a TLS peer cannot be read raw)
    host, port = parse_address(address)
    connect_timeout = CONNECT_TIMEOUT_S if connect_timeout is None else connect_timeout
    read_timeout = HANDSHAKE_TIMEOUT_S if read_timeout is None else read_timeout
    where = f"the Dask scheduler at {address}"
    try:
        sock = socket.create_connection((host, port), timeout=connect_timeout)
    except socket.timeout:
        raise ClassificationError(f"cannot reach {where}: no answer within {connect_timeout:g} s") from None
    except OSError as exc:
        raise ClassificationError(f"cannot reach {where}: {exc.strerror or exc}") from None
    try:
        sock.settimeout(read_timeout)
        head = _read(sock, 8)
        size = struct.unpack("<Q", head)[0] if len(head) == 8 else 0
        body = _read(sock, size) if 0 < size <= MAX_HANDSHAKE_BYTES else b""
    except socket.timeout:
        raise ClassificationError(
            f"{address} accepted the connection but sent nothing within {read_timeout:g} s: it is not a Dask "
            "scheduler (start one with `dask scheduler`, or check the address and port)"
        ) from None
    except OSError as exc:
        raise ClassificationError(f"cannot talk to {where}: {exc.strerror or exc}") from None
    finally:
        sock.close()
    if b"pickle-protocol" not in body and b"compression" not in body:
        raise ClassificationError(
            f"{address} answered, but not as a Dask scheduler: check the address and port "
            "(a scheduler listens on 8786 by default)"
        )
