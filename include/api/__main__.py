"""``python -m include.api [--host 127.0.0.1] [--port 8000] [--workers N]`` (``make api``): serve the intake API
with uvicorn (``--workers``: N processes; the rate limit is shared through the database).

The uvicorn access log is off (it prints query strings, which can hold e-mails); the API's own access log
(``include.api.access``: method, route template, status, key id, counts, patient ids) replaces it.
"""

from __future__ import annotations

import argparse
import logging
import sys

import uvicorn

from include.api.app import create_app

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m include.api", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=sys.stderr)
    if args.workers > 1:
        uvicorn.run("include.api.app:create_app", factory=True, workers=args.workers, host=args.host,
                    port=args.port, access_log=False, log_config=None, timeout_graceful_shutdown=5)
    else:
        uvicorn.run(create_app(), host=args.host, port=args.port, access_log=False, log_config=None,
                    timeout_graceful_shutdown=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
