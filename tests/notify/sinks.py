"""Real receivers on 127.0.0.1 for the notification and metrics tests: an SMTP server (aiosmtpd), an OTLP/HTTP
metrics endpoint (Airflow's OpenTelemetry metrics path; the StatsD client library is not installed here)
and an HTTP endpoint for Apprise's ``json://`` webhook. Each keeps what it received."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
from dataclasses import dataclass
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


class OtlpSink:
    """An OTLP/HTTP metrics endpoint on 127.0.0.1 (``/v1/metrics``, protobuf), what Airflow's OpenTelemetry
    metrics path exports to; keeps every data point received."""

    def __init__(self) -> None:
        self.points: list[tuple[str, dict[str, str], float]] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's hook name
                from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    import gzip

                    body = gzip.decompress(body)
                request = ExportMetricsServiceRequest()
                request.ParseFromString(body)
                for rm in request.resource_metrics:
                    for sm in rm.scope_metrics:
                        for metric in sm.metrics:
                            kind = metric.WhichOneof("data")
                            for dp in getattr(metric, kind).data_points if kind in ("gauge", "sum") else []:
                                attrs = {a.key: a.value.string_value for a in dp.attributes}
                                value = dp.as_double if dp.WhichOneof("value") == "as_double" else dp.as_int
                                sink.points.append((metric.name, attrs, float(value)))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, *args):  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/metrics"

    def value(self, name: str, **attrs: str) -> float | None:
        """The last value received for ``name`` with (at least) these attributes."""
        found = [v for n, a, v in self.points if n == name and all(a.get(k) == x for k, x in attrs.items())]
        return found[-1] if found else None

    def text(self) -> str:
        return json.dumps(self.points)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


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
