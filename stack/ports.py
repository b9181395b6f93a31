"""Who holds a TCP port, so a clash is reported by port and process, not as a crash."""

from __future__ import annotations

import socket

import psutil


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def port_is_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def describe_port_owner(port: int) -> str:
    """'pid 123 (java kafka.Kafka ...)' for the listener on `port`, or 'an unknown process'."""
    try:
        connections = psutil.net_connections(kind="inet")
    except psutil.AccessDenied:
        return "an unknown process (not permitted to inspect sockets)"
    for connection in connections:
        if (
            connection.status == psutil.CONN_LISTEN
            and connection.laddr
            and connection.laddr.port == port
            and connection.pid
        ):
            try:
                process = psutil.Process(connection.pid)
                command = " ".join(process.cmdline())[:120] or process.name()
            except psutil.Error:
                command = "?"
            return f"pid {connection.pid} ({command})"
    return "an unknown process"
