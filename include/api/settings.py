"""The intake API's settings: limits, timeouts, where uploads land, how to reach Airflow.

Every value comes from the environment (``GENASCOPE_API_*``) with the default below; ``ApiSettings``
is frozen and passed explicitly (tests build their own). Credentials are read from the environment at
call time and never stored in a file, logged or returned.

=====================================  ==========  =====================================================
environment variable                   default     meaning
=====================================  ==========  =====================================================
``GENASCOPE_API_MAX_BODY_BYTES``       16 MiB      request body of every JSON route (413 above)
``GENASCOPE_API_MAX_BULK_ROWS``        10000       rows per ``POST /api/patients/bulk`` (413 above)
``GENASCOPE_API_MAX_UPLOAD_BYTES``     256 MiB     ``POST /api/patients/import-csv`` body (413 above)
``GENASCOPE_API_RATE_PER_MINUTE``      600         calls per key and minute (token bucket; 429 above)
``GENASCOPE_API_RATE_BURST``           120         calls a key may make at once
``GENASCOPE_API_RATE_LIMIT_BACKEND``   postgres    ``postgres``: one bucket per key in the database,
                                                   shared by every API process and host; ``memory``:
                                                   per process (a single-process deployment only)
``GENASCOPE_API_AUTH_CACHE_SECONDS``   5           how long a verified key is trusted without asking the
                                                   database again (a revoked key is refused within it;
                                                   0 = ask on every call)
``GENASCOPE_API_SOURCES_CACHE_SECONDS`` 30         how long an account's API source (read from the clinic
                                                   sources document) is kept; a local sources file that
                                                   changes is read again at once (0 = read every call)
``GENASCOPE_API_IDENTIFIER_NAMESPACE`` ``api``     the account's API namespace: where a record's
                                                   external_id is looked up and recorded when the call
                                                   names no ``identifier_namespace`` (docs/contracts/identity.md 1b)
``GENASCOPE_API_STATEMENT_TIMEOUT_MS`` 30000       ``statement_timeout`` of every API session
``GENASCOPE_API_LOCK_TIMEOUT_MS``      10000       ``lock_timeout`` (a write waits at most this long for
                                                   the same person's lock held by another writer: 503)
``GENASCOPE_API_POOL_SIZE``            8           database connections kept (plus as many overflow)
``GENASCOPE_API_LANDING_ROOT``         ``landing`` root of the upload sources' landing folders, as the
                                                   DAG's Variable ``genascope_landing_root`` (empty: each
                                                   source's configured ``landing``)
``GENASCOPE_API_UPLOAD_SOURCE_PREFIX`` ``upload-`` an account's upload source is the clinic source
                                                   ``<prefix><account_id>`` of clinic_sources.yaml
``GENASCOPE_API_PHONE_REGION``         ``US``      default phone region of JSON records
``GENASCOPE_AIRFLOW_API_URL``          (none)      Airflow base URL (``http://localhost:8080``): uploads
                                                   trigger ``clinic_patient_import`` through its REST API
``GENASCOPE_AIRFLOW_API_USERNAME``     (none)      Airflow user (a JWT is fetched from ``/auth/token``)
``GENASCOPE_AIRFLOW_API_PASSWORD``     (none)      its password (environment only)
``GENASCOPE_AIRFLOW_API_TOKEN``        (none)      or a ready bearer token instead of user + password
=====================================  ==========  =====================================================
"""

from __future__ import annotations

import os
from dataclasses import dataclass


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


@dataclass(frozen=True)
class ApiSettings:
    max_body_bytes: int = 16 * 1024 * 1024
    max_bulk_rows: int = 10_000
    max_upload_bytes: int = 256 * 1024 * 1024
    rate_per_minute: int = 600
    rate_burst: int = 120
    rate_limit_backend: str = "postgres"
    auth_cache_seconds: int = 5
    sources_cache_seconds: int = 30
    identifier_namespace: str = "api"
    statement_timeout_ms: int = 30_000
    lock_timeout_ms: int = 10_000
    pool_size: int = 8
    landing_root: str | None = "landing"
    upload_source_prefix: str = "upload-"
    phone_region: str = "US"
    airflow_url: str | None = None
    database_uri: str | None = None  # None: the project's resolution (include.core.db)

    @classmethod
    def from_env(cls) -> ApiSettings:
        return cls(
            max_body_bytes=_int("GENASCOPE_API_MAX_BODY_BYTES", cls.max_body_bytes),
            max_bulk_rows=_int("GENASCOPE_API_MAX_BULK_ROWS", cls.max_bulk_rows),
            max_upload_bytes=_int("GENASCOPE_API_MAX_UPLOAD_BYTES", cls.max_upload_bytes),
            rate_per_minute=_int("GENASCOPE_API_RATE_PER_MINUTE", cls.rate_per_minute),
            rate_burst=_int("GENASCOPE_API_RATE_BURST", cls.rate_burst),
            rate_limit_backend=(os.environ.get("GENASCOPE_API_RATE_LIMIT_BACKEND") or cls.rate_limit_backend).strip(),
            auth_cache_seconds=_int("GENASCOPE_API_AUTH_CACHE_SECONDS", cls.auth_cache_seconds),
            sources_cache_seconds=_int("GENASCOPE_API_SOURCES_CACHE_SECONDS", cls.sources_cache_seconds),
            identifier_namespace=(os.environ.get("GENASCOPE_API_IDENTIFIER_NAMESPACE") or "").strip()
            or cls.identifier_namespace,
            statement_timeout_ms=_int("GENASCOPE_API_STATEMENT_TIMEOUT_MS", cls.statement_timeout_ms),
            lock_timeout_ms=_int("GENASCOPE_API_LOCK_TIMEOUT_MS", cls.lock_timeout_ms),
            pool_size=_int("GENASCOPE_API_POOL_SIZE", cls.pool_size),
            landing_root=os.environ.get("GENASCOPE_API_LANDING_ROOT", cls.landing_root) or None,
            upload_source_prefix=os.environ.get("GENASCOPE_API_UPLOAD_SOURCE_PREFIX", cls.upload_source_prefix),
            phone_region=os.environ.get("GENASCOPE_API_PHONE_REGION", cls.phone_region),
            airflow_url=(os.environ.get("GENASCOPE_AIRFLOW_API_URL") or "").strip() or None,
        )


#: Limits of GET /api/patients.
MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 100
