"""The plugin's FastAPI app (mounted at :data:`URL_PREFIX` on Airflow's api-server) and its external views."""

from __future__ import annotations

from fastapi import FastAPI

from include.core.approvals import REPORT_TAB_ROUTE

URL_PREFIX = "/genascope"
PIPELINE_PAGE_ROUTE = "patient-pipeline"
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
