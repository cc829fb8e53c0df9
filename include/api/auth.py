"""Authentication and tenancy: the one dependency every route declares (``Depends(caller_scope)``).

``require_api_key`` turns ``Authorization: Bearer gsk_...`` into a ``Caller`` (key id, account, admin) or
answers 401 (missing, malformed, unknown, wrong or revoked key: one answer for all, so a caller learns
nothing about which). ``caller_scope`` wraps it: the per-key rate limit (429) and the audit's key and
account. A host application that mounts the router with its own authentication overrides
``require_api_key`` with a dependency returning a ``Caller`` (see ``include.api.mount``).

Tenancy: ``Caller.account_for(requested)`` is the only way a handler gets an account id. A key is
scoped to its account; an admin key may name another account (``account_id`` in the query or body),
any other key naming another account is refused (403 ``account_forbidden``): a filter cannot widen the
scope and a body cannot write into another account.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from include.api import keys
from include.api.audit import call_audit
from include.api.errors import Problem
from include.api.limits import rate_limited

bearer = HTTPBearer(auto_error=False, description="An API key from `python -m include.cli api-key create`")


@dataclass(frozen=True)
class Caller:
    key_id: str
    account_id: str
    is_admin: bool = False

    def account_for(self, requested: str | None) -> str:
        """The account a call works on: the key's, or (admin keys only) the one it names."""
        if requested is None or requested == self.account_id:
            return self.account_id
        if self.is_admin:
            return requested
        raise Problem(403, "account_forbidden",
                      "this key is scoped to its own account; leave account_id out or use that account's key")

    def can_see(self, account_id: str | None) -> bool:
        return self.is_admin or account_id == self.account_id


def unauthorized() -> Problem:
    return Problem(401, "unauthorized", "send a valid, unrevoked API key as `Authorization: Bearer <key>`",
                   headers={"WWW-Authenticate": "Bearer"})


def _verify(state, token: str) -> keys.ApiKey | None:
    with state.engine.connect() as conn:
        key = keys.verify(conn, token)
        conn.commit()
    return key


async def require_api_key(request: Request,
                          credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Caller:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise unauthorized()
    state = request.app.state.intake
    token = credentials.credentials
    key = state.key_cache.get(token)  # verified within the last GENASCOPE_API_AUTH_CACHE_SECONDS: no thread hop
    if key is None:
        key = await run_in_threadpool(_verify, state, token)
        if key is None:
            raise unauthorized()
        state.key_cache.put(token, key)
    return Caller(key.key_id, key.account_id, key.is_admin)


async def caller_scope(request: Request, caller: Annotated[Caller, Depends(require_api_key)]) -> Caller:
    audit = call_audit(request.scope)
    audit.key_id, audit.account_id = caller.key_id, caller.account_id
    limiter = request.app.state.intake.limiter
    wait = limiter.take_local(caller.key_id)  # in memory (a lease of the shared bucket): no thread hop
    if wait is None:
        wait = await run_in_threadpool(limiter.take, caller.key_id)
    if wait > 0:
        raise rate_limited(wait)
    return caller


#: What every route declares: ``caller: Scoped`` (authentication, rate limit, audit identity).
Scoped = Annotated[Caller, Depends(caller_scope)]
