"""Authentication and authorization of the plugin's routes, through Airflow's own auth manager.

Airflow does not authenticate plugin apps. Every route here declares one of the dependencies below,
all built on :func:`authenticated_user`:

- the user comes from ``Authorization: Bearer <jwt>`` (REST clients) or the UI's ``_token`` cookie,
  validated by the configured auth manager (``get_user_from_token``). No or a bad token: **401**.
- :func:`dag_reader` / :func:`dag_editor`: ``is_authorized_dag`` with GET (read the run's report) or
  PUT (edit the DAG: needed for PHI-bearing downloads such as quarantine exports). Denied: **403**.
- :func:`pipeline_reader`: read access on every pipeline DAG (the "Patient pipeline" page shows every one).
- :func:`steward`: edit access on ``patient_stewardship`` (the review page, which shows two patients' values
  and runs stewardship decisions); :func:`stewardship_reader`: read access on it (the review audit counts).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from include.core import pipeline_dags

COOKIE_NAME = "_token"  # airflow.api_fastapi.auth.managers.base_auth_manager.COOKIE_NAME_JWT_TOKEN

_bearer = HTTPBearer(auto_error=False)


def _auth_manager():
    from airflow.api_fastapi.app import get_auth_manager

    return get_auth_manager()


async def authenticated_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)] = None,
) -> Any:
    """The Airflow user of this request (bearer token first, then the UI cookie); 401 without one."""
    from jwt import InvalidTokenError

    token = credentials.credentials if credentials and credentials.scheme.lower() == "bearer" else None
    token = token or request.cookies.get(COOKIE_NAME)
    if not token:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Not authenticated: log in to Airflow",
                            headers={"WWW-Authenticate": "Bearer"})
    try:
        return await _auth_manager().get_user_from_token(token)
    except InvalidTokenError as exc:  # expired, revoked, bad signature: all "log in again"
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Invalid or expired token: log in again",
                            headers={"WWW-Authenticate": "Bearer"}) from exc


User = Annotated[Any, Depends(authenticated_user)]


def is_authorized(user: Any, dag_id: str, method: str) -> bool:
    from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails

    return bool(_auth_manager().is_authorized_dag(method=method, details=DagDetails(id=dag_id), user=user))


def _require(user: Any, dag_id: str, method: str, what: str) -> Any:
    if not is_authorized(user, dag_id, method):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"{what} on DAG {dag_id} is needed")
    return user


def dag_reader(dag_id: str, user: User) -> Any:
    """Read access on the DAG of the path (``{dag_id}``)."""
    return _require(user, dag_id, "GET", "read access")


def dag_editor(dag_id: str, user: User) -> Any:
    """Edit access on the DAG of the path: for downloads that hold PHI."""
    return _require(user, dag_id, "PUT", "edit access (PHI download)")


def pipeline_reader(user: User) -> Any:
    """Read access on every pipeline DAG."""
    for dag_id in pipeline_dags.DAG_IDS:
        _require(user, dag_id, "GET", "read access")
    return user


STEWARDSHIP_DAG = pipeline_dags.STEWARDSHIP.dag_id


def steward(user: User) -> Any:
    """Edit access on the stewardship DAG: whoever may run its actions may see the pair they decide."""
    return _require(user, STEWARDSHIP_DAG, "PUT", "edit access (review page)")


def stewardship_reader(user: User) -> Any:
    return _require(user, STEWARDSHIP_DAG, "GET", "read access")


DagReader = Annotated[Any, Depends(dag_reader)]
DagEditor = Annotated[Any, Depends(dag_editor)]
PipelineReader = Annotated[Any, Depends(pipeline_reader)]
Steward = Annotated[Any, Depends(steward)]
StewardshipReader = Annotated[Any, Depends(stewardship_reader)]
