"""The backend of the project's Airflow plugin (``plugins/genascope_plugin.py`` only registers it).

- ``app.py``: the FastAPI app mounted on Airflow's api-server, and the external views (the "Report" tab
  of every run, the "Patient pipeline" page).
- ``auth.py``: the one authentication dependency (Airflow's auth manager) and the DAG-level permissions.
- ``reports.py``, ``pipeline.py``: one router per resource. ``templates/``: the pages (autoescaped).
- ``run_files.py``: the only reader of the runs root (``ObjectStoragePath``), path checks included.
- ``pipeline_state.py``: the page's reads of the app database and Airflow's metadata DB.
- ``charts.py``: small server-side SVG charts.
"""
