"""The router mounted by a host application with the host's own authentication (docs/intake-api.md, mounting)."""

from __future__ import annotations

import threading
import time

import httpx
import uvicorn
from fastapi import Depends, FastAPI, Header, HTTPException

from include.api import Caller, install, require_api_key, router
from include.api.settings import ApiSettings
from tests.api.conftest import ACCT_B, free_port


def test_a_host_app_mounts_the_router_with_its_own_auth_dependency(api_env):
    def host_user(x_host_user: str | None = Header(None)) -> str:
        if x_host_user != "clinician-7":
            raise HTTPException(401, "host login required")
        return x_host_user

    def host_caller(user: str = Depends(host_user)) -> Caller:  # noqa: B008  (FastAPI's idiom, as a host writes it)
        return Caller(key_id=f"host:{user}", account_id=ACCT_B)

    host = FastAPI(title="host backend")
    install(host, ApiSettings(database_uri=api_env.uri, landing_root=str(api_env.landing_root)))
    host.include_router(router)
    host.dependency_overrides[require_api_key] = host_caller

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(host, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            for _ in range(100):
                try:
                    client.get("/openapi.json")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            assert client.get("/api/patients").status_code == 401
            r = client.post("/api/patients", json={"first_name": "Host", "last_name": "Made", "external_id": "HOST-1"},
                            headers={"X-Host-User": "clinician-7"})
            assert r.status_code == 201 and r.json()["account_id"] == ACCT_B
            listed = client.get("/api/patients", params={"external_id": "HOST-1"}, headers={"X-Host-User": "clinician-7"})
            assert [p["id"] for p in listed.json()["items"]] == [r.json()["id"]]
    finally:
        server.should_exit = True
        thread.join(timeout=20)
    assert api_env.scalar("SELECT count(*) FROM patient_pipeline.api_audit WHERE key_id = 'host:clinician-7'") == 2
