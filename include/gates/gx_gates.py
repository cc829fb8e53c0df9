"""Great Expectations (GX Core 1.x) validation of the migrated tables, with Data Docs in the run folder.

GX runs its expectations as SQL inside PostgreSQL (nothing is pulled into memory). Expectations are
only placed on id and key columns, and the identity key is validated as an md5 digest, so the Data
Docs never show a name or an e-mail.

Security (docs/contracts/operations.md §5): the context is **ephemeral** (no ``great_expectations.yml``, no stored
datasource: the connection string lives in this process's memory only); its Data Docs site is the run
folder's ``gx/data_docs`` (owner-only, created 0700 before GX writes and tightened after), and the
ephemeral context's default site in a temporary folder is removed. Results carry **no sampled values**
(``partial_unexpected_count`` 0, no unexpected rows or index lists): a failed uniqueness expectation
on identity digests reports how many, never which. ``great_expectations`` is imported inside the
function: the import takes seconds and must not slow DAG parsing.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

from include.core import db, pipeline_dags, private_files, storage
from include.gates.results import GateResult

log = logging.getLogger(__name__)

IDENTITY_QUERY = (
    "SELECT md5(coalesce(account_id, '') || '|' || patient_pipeline.email_key(email) || '|' "
    "|| patient_pipeline.key_form(first_name)) "
    "AS identity_digest FROM patients WHERE email IS NOT NULL"
)
PATIENT_CHATS_QUERY = (
    "SELECT cs.id, cs.patient_id FROM chat_sessions cs JOIN users u ON u.id = cs.user_id "
    "WHERE patient_pipeline.key_form(u.role) = 'patient'"
)


#: Counts only: GX keeps no sample of unexpected values, rows or indexes in results or Data Docs.
RESULT_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": 0, "include_unexpected_rows": False,
                 "return_unexpected_index_query": False}
DATA_DOCS_SITE = "run_folder"


def data_docs_dir(run_dir: Path) -> Path:
    return run_dir / "gx" / "data_docs"


def data_docs_index(run_dir: Path) -> Path:
    return data_docs_dir(run_dir) / "index.html"


def _ephemeral_context(docs_dir: Path):
    """An in-memory GX context whose only Data Docs site is ``docs_dir`` (nothing else is written)."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    for site in list(context.get_config().data_docs_sites or {}):
        context.delete_data_docs_site(site)  # the default site of an ephemeral context is a temp folder
    context.add_data_docs_site(site_name=DATA_DOCS_SITE, site_config={
        "class_name": "SiteBuilder", "show_how_to_buttons": False,
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    })
    return context


def validate_migration(uri: str, run_dir: Path) -> list[GateResult]:
    """Run the migration's GX suite; Data Docs go to ``run_dir/gx/data_docs``. One GateResult per expectation."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    import great_expectations.expectations as gxe

    # GX's site builder writes to a local folder: on object storage it builds in an owner-only temporary
    # folder, which is copied under the run folder afterwards (the API server reads it from there).
    local_run = run_dir if isinstance(run_dir, Path) else Path(tempfile.mkdtemp(prefix="gs_gx_docs_"))
    docs_dir = data_docs_dir(local_run)
    private_files.ensure_dir(docs_dir, within=local_run)
    context = _ephemeral_context(docs_dir)
    # The generic SQL source also accepts unix-socket URLs (the embedded server), which the postgres one
    # rejects. ``hide_parameters``: GX's engine must not print bound values either.
    url = db.to_sqlalchemy_url(uri).replace("$", r"\$")
    source = context.data_sources.add_sql("app_db", connection_string=url, kwargs={"hide_parameters": True})

    def batch(asset_name: str, *, table: str | None = None, query: str | None = None):
        asset = (source.add_table_asset(asset_name, table_name=table) if table
                 else source.add_query_asset(asset_name, query=query))
        return asset.add_batch_definition_whole_table(f"{asset_name}_all")

    suites = {
        "invites": (batch("invites", table="invites"), [
            gxe.ExpectColumnValuesToNotBeNull(column="patient_id"),
            gxe.ExpectColumnValuesToBeUnique(column="id"),
        ]),
        "patients": (batch("patients", table="patients"), [
            gxe.ExpectColumnValuesToNotBeNull(column="first_name"),
            gxe.ExpectColumnValuesToNotBeNull(column="last_name"),
            gxe.ExpectColumnValuesToBeUnique(column="id"),
            gxe.ExpectColumnValuesToBeUnique(column="user_id"),
            gxe.ExpectColumnValuesToBeInSet(column="status", value_set=["pending", "active", "inactive", "archived"]),
        ]),
        "patient_identity": (batch("patient_identity", query=IDENTITY_QUERY), [
            gxe.ExpectColumnValuesToBeUnique(column="identity_digest"),
        ]),
        "patient_user_chats": (batch("patient_user_chats", query=PATIENT_CHATS_QUERY), [
            gxe.ExpectColumnValuesToNotBeNull(column="patient_id"),
        ]),
    }
    definitions = []
    for name, (batch_definition, expectations) in suites.items():
        suite = context.suites.add(gx.ExpectationSuite(name=f"migration_{name}", expectations=expectations))
        definitions.append(context.validation_definitions.add(
            gx.ValidationDefinition(name=f"migration_{name}", data=batch_definition, suite=suite)))
    checkpoint = context.checkpoints.add(gx.Checkpoint(
        name=pipeline_dags.MIGRATION.dag_id, validation_definitions=definitions,
        actions=[gx.checkpoint.UpdateDataDocsAction(name="data_docs", site_names=[DATA_DOCS_SITE])],
        result_format=RESULT_FORMAT,
    ))
    try:
        outcome = checkpoint.run()
    finally:
        private_files.restrict_tree(local_run / "gx")
        if local_run is not run_dir:
            try:
                storage.upload_tree(docs_dir, data_docs_dir(run_dir))
            finally:
                shutil.rmtree(local_run, ignore_errors=True)
    results: list[GateResult] = []
    for run_result in outcome.run_results.values():
        for r in run_result.results:
            cfg = r.expectation_config
            unexpected = int(r.result.get("unexpected_count") or 0)
            rule = f"gx:{run_result.suite_name}.{cfg.kwargs.get('column', '')}:{cfg.type}"
            results.append(GateResult(rule, bool(r.success), unexpected, [], "" if r.success else "see Data Docs"))
    log.info("GX: %d expectations, %d failed; Data Docs under %s", len(results),
             sum(not r.passed for r in results), data_docs_dir(run_dir))
    return results
