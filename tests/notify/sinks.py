"""Real receivers on 127.0.0.1 for the notification and metrics tests: an SMTP server (aiosmtpd), a StatsD
UDP listener and an HTTP endpoint for Apprise's ``json://`` webhook. Each keeps what it received."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Mail:
    subject: str
    to: list[str]
    kind: str
    text: str  # the decoded body (HTML)


class SmtpSink:
    """aiosmtpd on 127.0.0.1 (no TLS, no auth), collecting every message."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.mails: list[Mail] = []
        self.raw: list[bytes] = []
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
                sink.raw.append(envelope.content)
                msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
                body = "\n".join(part.get_content() for part in msg.walk()
                                 if part.get_content_maintype() == "text")
                sink.mails.append(Mail(str(msg["Subject"]), list(envelope.rcpt_tos),
                                       str(msg.get("X-Genascope-Kind", "")), body))
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def connection(self) -> str:
        return json.dumps({"conn_type": "smtp", "host": "127.0.0.1", "port": self.port,
                           "extra": {"disable_ssl": True, "disable_tls": True, "from_email": "airflow@example.org",
                                     "retry_limit": 0, "timeout": 10}})

    def stop(self) -> None:
        self.controller.stop()


@dataclass
class StatsdSink:
    """A UDP socket on 127.0.0.1 collecting StatsD lines (``name[,tag=v...]:value|type``)."""

    lines: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            self.lines += data.decode("utf-8", "replace").splitlines()

    def gauges(self, settle_s: float = 0.5) -> dict[str, float]:
        """The last value of each gauge line received: ``{"name,tag=v": value}``."""
        time.sleep(settle_s)
        out = {}
        for line in list(self.lines):
            name, _, rest = line.partition(":")
            value, _, kind = rest.partition("|")
            if kind.startswith("g"):
                out[name] = float(value)
        return out

    def stop(self) -> None:
        self._stop.set()
        self.sock.close()


class WebhookSink:
    """An HTTP server taking Apprise's ``json://`` posts."""

    def __init__(self) -> None:
        self.posts: list[dict] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's hook name
                length = int(self.headers.get("Content-Length", 0))
                sink.posts.append(json.loads(self.rfile.read(length) or b"{}"))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def connection(self) -> str:
        return json.dumps({"conn_type": "apprise",
                           "extra": {"config": {"path": f"json://127.0.0.1:{self.port}/hook", "tag": "oncall"}}})

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
