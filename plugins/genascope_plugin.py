"""The Genascope pipeline's Airflow plugin: registers the app and views of ``include/ui`` (no logic here)."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from include.ui.app import EXTERNAL_VIEWS, URL_PREFIX, create_app


class GenascopePipelinePlugin(AirflowPlugin):
    name = "genascope_pipeline"
    fastapi_apps = [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "Genascope pipeline"}]
    external_views = EXTERNAL_VIEWS
