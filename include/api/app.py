"""The intake API's application factory, and what a host application needs to mount its router.

``create_app(settings)`` is the standalone app (``make api``). ``install(app, settings)`` gives any
FastAPI app what the routes need (the database pool, the rate limiter, the problem+json handlers, the
body-size limit and the audit middleware); ``router`` holds the routes (``patients``, ``imports``). A
host backend mounts them with its own authentication::

    from include.api import Caller, install, require_api_key, router

    def host_caller(user=Depends(current_user)) -> Caller:      # the host's auth dependency
        return Caller(key_id=f"user:{user.id}", account_id=user.account_id, is_admin=user.is_superuser)

    install(app)
    app.include_router(router)
    app.dependency_overrides[require_api_key] = host_caller
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import sqlalchemy as sa
from fastapi import APIRouter, FastAPI

from include.api import errors
from include.api.async_sessions import AsyncSessions
from include.api.audit import AuditMiddleware
from include.api.database import create_engine, create_sessions
from include.api.imports.router import router as imports_router
from include.api.keys import VerifiedKeyCache
from include.api.limits import BodySizeLimit, RateLimiter, SharedRateLimiter
from include.api.patients.router import router as patients_router
from include.api.settings import ApiSettings
from include.imports import direct

log = logging.getLogger(__name__)

#: Both resources; the imports routes first, so ``/api/patients/imports/...`` is never read as a patient id.
router = APIRouter()
router.include_router(imports_router)
router.include_router(patients_router)


@dataclass
class IntakeState:
    settings: ApiSettings
    limiter: RateLimiter | SharedRateLimiter | None = None
    key_cache: VerifiedKeyCache = field(default_factory=lambda: VerifiedKeyCache(0))
    _engine: sa.Engine | None = None
    _fast_engine: sa.Engine | None = None
    _sessions: AsyncSessions | None = None

    @property
    def engine(self) -> sa.Engine:
        if self._engine is None:
            self._engine = create_engine(self.settings)
            direct.ensure_schema(self._engine)
        return self._engine

    @property
    def fast_engine(self) -> sa.Engine:
        """Autocommit sessions without a ping per checkout, for one-statement calls (the single create, the
        shared rate limit): one round trip each. A dropped connection is retried once by the caller."""
        if self._fast_engine is None:
            self.engine  # noqa: B018  (the pipeline schema first)
            self._fast_engine = create_engine(self.settings, fast=True)
        return self._fast_engine

    @property
    def sessions(self) -> AsyncSessions:
        """The event loop's sessions for the single create (include.api.async_sessions)."""
        if self._sessions is None:
            self.engine  # noqa: B018  (the pipeline schema first)
            self._sessions = create_sessions(self.settings)
        return self._sessions

    def dispose(self) -> None:
        for engine in (self._engine, self._fast_engine):
            if engine is not None:
                engine.dispose()
        self._engine = self._fast_engine = None

    async def aclose(self) -> None:
        """Close the event loop's sessions (on the loop that opened them), then the engines."""
        sessions, self._sessions = self._sessions, None
        if sessions is not None:
            await sessions.close()
        self.dispose()


def install(app: FastAPI, settings: ApiSettings | None = None) -> IntakeState:
    """State, error handlers, body limit and audit for the intake routes on ``app``."""
    settings = settings or ApiSettings.from_env()
    state = IntakeState(settings, key_cache=VerifiedKeyCache(settings.auth_cache_seconds))
    if settings.rate_limit_backend == "memory":
        state.limiter = RateLimiter(settings.rate_per_minute, settings.rate_burst)
    else:
        state.limiter = SharedRateLimiter(settings.rate_per_minute, settings.rate_burst, lambda: state.fast_engine)
    app.state.intake = state
    errors.install(app)
    app.add_middleware(BodySizeLimit, max_body_bytes=settings.max_body_bytes,
                       max_upload_bytes=settings.max_upload_bytes)
    # outermost: audits 413s too; one autocommit statement per call (no ping, no BEGIN/COMMIT round trips)
    app.add_middleware(AuditMiddleware, engine_getter=lambda: state.fast_engine)
    return state


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    """The standalone intake API (OpenAPI at /openapi.json, docs at /docs)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.intake.engine  # noqa: B018  (connect and ensure the pipeline schema before serving)
        # what the process imported and built so far lives as long as the process: out of the collector's
        # way, so a full collection while serving walks only what the calls allocate (shorter pauses at p99)
        gc.collect()
        gc.freeze()
        log.info("intake API ready")
        yield
        await app.state.intake.aclose()

    if not logging.getLogger().handlers:  # a worker process of `--workers N`: log as the parent does
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    app = FastAPI(title="Genascope patient intake API", version="1.0.0", lifespan=lifespan,
                  description="Patients in through the nightly import's engine (see docs/intake-api.md). "
                              "Every route needs `Authorization: Bearer <API key>`.")
    install(app, settings)
    app.include_router(router)
    return app
