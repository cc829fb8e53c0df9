"""The patient intake API (docs/contracts/api.md): a FastAPI app on the nightly import's engine.

Layout (FastAPI's "bigger applications"): ``app`` (factory, ``install``, ``router``), one package per
resource (``patients``, ``imports``: ``router``, ``models``, ``service``), ``auth`` (the one dependency
every route declares), ``keys`` (API keys), ``audit`` (audit table + access log), ``limits``, ``errors``
(problem+json), ``settings``, ``database``. ``python -m include.api`` (``make api``) serves it.
"""

from __future__ import annotations

from include.api.app import create_app, install, router
from include.api.auth import Caller, require_api_key

__all__ = ["Caller", "create_app", "install", "require_api_key", "router"]
