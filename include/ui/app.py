"""The plugin's FastAPI app (mounted at :data:`URL_PREFIX` on Airflow's api-server) and its external views."""

from __future__ import annotations

from fastapi import FastAPI

from include.core.approval_texts import REPORT_TAB_ROUTE

URL_PREFIX = "/genascope"
PIPELINE_PAGE_ROUTE = "patient-pipeline"
#: The Review queue page of the plugin app (include/ui/review.py serves it): ``{URL_PREFIX}/{REVIEW_ROUTE}`` lists the open
#: items, ``{URL_PREFIX}/{REVIEW_ROUTE}/items/<item_id>`` shows one. The one place other pages build links from.
REVIEW_ROUTE = "review"


def review_url(item_id: str | None = None) -> str:
    """The Review page, or one review item's page (item ids like ``import:12`` are URL-encoded)."""
    from urllib.parse import quote

    base = f"{URL_PREFIX}/{REVIEW_ROUTE}"
    return base if item_id is None else f"{base}/items/{quote(str(item_id), safe='')}"


#: The plugin's "Review queue" navigation entry (an external view onto ``{URL_PREFIX}/{REVIEW_ROUTE}``).
REVIEW_PAGE_ROUTE = "review-queue"
#: Paths of the steward's review page (values of patients): never stored by a browser or a proxy.
NO_STORE_PREFIXES = ("/review",)


def create_app() -> FastAPI:
    from include.ui import pipeline, reports, review

    app = FastAPI(title="Genascope pipeline", description="Run reports and the pipeline's state (counts and ids "
                  "only). Authenticated and authorized by Airflow's auth manager.", docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.include_router(reports.router)
    app.include_router(pipeline.router)
    app.include_router(review.router)

    @app.middleware("http")
    async def no_store(request, call_next):  # every answer of the review routes, errors included
        response = await call_next(request)
        if request.url.path.removeprefix(str(request.scope.get("root_path") or "")).startswith(NO_STORE_PREFIXES):
            response.headers["Cache-Control"] = "no-store"
            response.headers["Pragma"] = "no-cache"
        return response

    return app


#: The Airflow UI substitutes {DAG_ID} and {RUN_ID} (URL-encoded) in a ``dag_run`` view's href.
EXTERNAL_VIEWS = [
    {"name": "Report", "href": f"{URL_PREFIX}/runs/{{DAG_ID}}/{{RUN_ID}}/report", "destination": "dag_run",
     "url_route": REPORT_TAB_ROUTE},
    {"name": "Patient pipeline", "href": f"{URL_PREFIX}/pipeline", "destination": "nav",
     "url_route": PIPELINE_PAGE_ROUTE, "nav_top_level": True},
    {"name": "Review queue", "href": f"{URL_PREFIX}/review", "destination": "nav",
     "url_route": REVIEW_PAGE_ROUTE, "nav_top_level": True},
]
