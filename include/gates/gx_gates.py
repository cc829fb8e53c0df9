"""Great Expectations (GX Core 1.x) validation of the migrated tables, with Data Docs in the run folder.

GX runs its expectations as SQL inside PostgreSQL (nothing is pulled into memory). Expectations are
only placed on id and key columns, and the identity key is validated as an md5 digest, so the Data
Docs never show a name or an e-mail. ``great_expectations`` is imported inside the function: the
import takes seconds and must not slow DAG parsing.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from include import db
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


def validate_migration(uri: str, run_dir: Path) -> list[GateResult]:
    """Run the migration's GX suite; Data Docs go to ``run_dir/gx``. One GateResult per expectation."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    import great_expectations.expectations as gxe

    run_dir.mkdir(parents=True, exist_ok=True)
    context = gx.get_context(mode="file", project_root_dir=str(run_dir))
    # The generic SQL source also accepts unix-socket URLs (the embedded server), which the postgres one rejects.
    url = db.to_sqlalchemy_url(uri).replace("$", r"\$")
    source = context.data_sources.add_or_update_sql("app_db", connection_string=url)

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
        suite = context.suites.add_or_update(gx.ExpectationSuite(name=f"migration_{name}", expectations=expectations))
        definitions.append(context.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=f"migration_{name}", data=batch_definition, suite=suite)))
    checkpoint = context.checkpoints.add_or_update(gx.Checkpoint(
        name="patient_first_migration", validation_definitions=definitions,
        actions=[gx.checkpoint.UpdateDataDocsAction(name="data_docs")],
        result_format={"result_format": "BASIC"},
    ))
    outcome = checkpoint.run()
    results: list[GateResult] = []
    for run_result in outcome.run_results.values():
        for r in run_result.results:
            cfg = r.expectation_config
            unexpected = int(r.result.get("unexpected_count") or 0)
            rule = f"gx:{run_result.suite_name}.{cfg.kwargs.get('column', '')}:{cfg.type}"
            results.append(GateResult(rule, bool(r.success), unexpected, [], "" if r.success else "see Data Docs"))
    log.info("GX: %d expectations, %d failed; Data Docs under %s", len(results),
             sum(not r.passed for r in results), run_dir / "gx" / "uncommitted" / "data_docs" / "local_site")
    return results


def data_docs_index(run_dir: Path) -> Path:
    return run_dir / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
