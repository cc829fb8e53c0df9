"""An S3-compatible server on 127.0.0.1 (moto's server mode) for tests, benchmarks and ``make
airflow-celery``: the same ``s3://`` code path as production, with no network beyond the loopback.

    python -m include.distributed.moto_s3 [--port 0] [--bucket genascope]   (runs until Ctrl-C)

Clients find it through the standard AWS environment (``AWS_ENDPOINT_URL``, the test credentials below):
botocore, aiobotocore and s3fs read them, so nothing in the pipeline knows it talks to moto.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from include.core.errors import GenascopeError

#: moto accepts any credentials; these are the documented placeholders, not secrets.
TEST_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                    "AWS_DEFAULT_REGION": "us-east-1"}


class ObjectStoreNotReady(GenascopeError, RuntimeError):
    """The moto server did not answer on its port in time."""


@dataclass
class MotoServer:
    """A moto server process this module started (stop it with :meth:`stop`)."""

    host: str
    port: int
    process: subprocess.Popen | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def env(self) -> dict[str, str]:
        """What a client process needs to reach this server through ``s3://`` paths."""
        return {"AWS_ENDPOINT_URL": self.endpoint_url, **TEST_CREDENTIALS}

    def create_bucket(self, name: str) -> str:
        import boto3

        client = boto3.client("s3", endpoint_url=self.endpoint_url, aws_access_key_id="testing",
                              aws_secret_access_key="testing", region_name="us-east-1")
        existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
        if name not in existing:
            client.create_bucket(Bucket=name)
        return f"s3://{name}"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def start(port: int = 0, host: str = "127.0.0.1", log_path: Path | None = None, timeout_s: float = 60) -> MotoServer:
    """Start ``moto_server`` on ``host:port`` (a free port when 0) and wait until it answers."""
    port = port or free_port(host)
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115 - owned by the child
    cmd = [sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)]
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    server = MotoServer(host, port, proc)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ObjectStoreNotReady(f"moto server exited with {proc.returncode}" +
                                      (f"; see {log_path}" if log_path else ""))
        try:
            with socket.create_connection((host, port), timeout=1):
                return server
        except OSError:
            time.sleep(0.2)
    server.stop()
    raise ObjectStoreNotReady(f"moto server on {host}:{port} did not answer within {timeout_s:.0f}s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m include.distributed.moto_s3", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=int(os.environ.get("GENASCOPE_MOTO_PORT", "0")))
    parser.add_argument("--bucket", default="genascope")
    args = parser.parse_args(argv)
    server = start(args.port)
    uri = server.create_bucket(args.bucket)
    print(f"S3-compatible server on {server.endpoint_url}, bucket {uri}; clients need:")
    for k, v in server.env().items():
        print(f"  export {k}={v}")
    try:
        while server.process and server.process.poll() is None:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
