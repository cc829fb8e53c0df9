"""The UI as a new user meets it: Debian's chromium (driven by Playwright, no downloaded browser) against a
real ``airflow standalone`` of this test's own. Every DAG is triggered from its Params form: the migration
(real, both approvals answered under Required Actions; the Report tab shows the plan while the first one
waits), the nightly import with the form's defaults (one delivery of it is held back), a stewardship
``dismiss`` in dry run, the rollback with its defaults and once refused (no confirmation). Each run's
Report tab shows a figure and no raw JSON or Python repr; the refused rollback and the held file say why
there; the GX Data Docs link opens; the Patient pipeline page lists the runs. No seeded name or e-mail
appears on any page, and no process the test started outlives it. Screenshots go to docs/."""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from include import seed as seeder
from include.core import alembic_driver, db, settings
from tests.browser.airflow_server import AirflowServer, airflow_standalone, leftover_processes
from tests.phi import seeded_phi

pytestmark = [pytest.mark.airflow, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
MIGRATION = "patient_first_migration"
IMPORT = "clinic_patient_import"
STEWARDSHIP = "patient_stewardship"
ROLLBACK = "patient_first_rollback"
INVITES = 300
DOCS = settings.PROJECT_ROOT / "docs"
HELD_FILE = "north_resend_mostly_bad.csv"

#: What a page must never show: a Python repr of a dict/list, a JSON object, Python literals, octal modes.
RAW = re.compile(r"""\{\s*['"]|\[\s*['"]|\bNone\b|\bTrue\b|\bFalse\b|0o[0-7]{3}""")


@pytest.fixture(scope="module")
def app_database():
    """A database of its own on the embedded server (the one `make airflow` uses): the UI is what is
    tested here, once; the DAG and route tests cover both servers."""
    from tests.conftest import create_database, drop_database, server_admin_uri

    pg_server = server_admin_uri("embedded")
    uri = create_database(pg_server, "gs_browser")
    with db.app_engine(uri).connect() as conn:
        alembic_driver.upgrade(conn, settings.REV_BASELINE)
    seeder.generate(uri, INVITES, 21)
    yield uri
    drop_database(pg_server, uri)


def lay_out_landing(uri: str, root: Path) -> Path:
    """The sample clinics' deliveries, plus one synthetic re-send of clinic-north whose rows are mostly
    invalid (missing names, impossible dates): the import holds it back (reject_ratio_exceeded)."""
    from include.imports import demo_support

    landing = demo_support.prepare_demo_landing(uri, root)
    (landing / "clinic-north" / "incoming" / HELD_FILE).write_text(
        "Patient First Name,Patient Last Name,DOB,MRN,Cell Phone,Email,Primary Insurance\n"
        ",Rowless,13/45/1990,N-9001,,,Fictional Health\n"
        ",Nameless,02/30/1980,N-9002,,,Fictional Health\n"
        ",Blank,99/99/1999,N-9003,,,Fictional Health\n"
        "Sample,Valid,1/2/1970,N-9004,,,Fictional Health\n")
    return landing


@pytest.fixture(scope="module")
def server(app_database, request):
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is missing: run `make chromium` (Debian's package)")
    from include.imports import landing as landing_module

    # not under pytest's basetemp: other pytest runs of this user rotate old basetemp folders away
    home = Path(tempfile.mkdtemp(prefix="genascope-browser-"))
    landing = lay_out_landing(app_database, home / "landing")
    env = {db.ENV_CONN: app_database, "GENASCOPE_RUNS_DIR": str(home / "runs"),
           # the import's form default (empty landing root) reads this Variable: the test's own landing
           "AIRFLOW_VAR_GENASCOPE_LANDING_ROOT": str(landing), landing_module.LANDING_ROOTS_ENV: str(landing)}
    failed_before = request.session.testsfailed
    with airflow_standalone(home, env) as running:
        yield running
    if request.session.testsfailed == failed_before:
        shutil.rmtree(home, ignore_errors=True)
    else:
        print(f"\nkept for the failure: {home} (standalone.log, screenshots)")
    # teardown: nothing the test started may outlive it (the harness stopped the whole tree)
    left = leftover_processes(running.marker)
    assert left == [], f"processes of this test outlived it: {left}"


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def page(server, browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(120_000)
    page.goto(f"{server.url}/")
    page.get_by_label("Username").fill(server.user)
    page.get_by_label("Password").fill(server.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{server.url}/**")
    page.get_by_text("Dags", exact=False).first.wait_for()
    yield page
    context.close()
    shutil.copy(server.log, server.home / "standalone.kept.log")


@pytest.fixture(scope="module")
def seen() -> list[str]:
    """Every page's HTML the test looked at (checked for PHI at the end)."""
    return []


def wait_for(predicate, timeout_s: float, what: str, every_s: float = 2.0):
    """Poll ``predicate`` until it is truthy; a slow or busy api-server (HTTP errors, timeouts) is polled again."""
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except httpx.HTTPError:
            value = None
        if value:
            return value
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")


def task_state(server: AirflowServer, dag_id: str, run_id: str, task_id: str) -> str | None:
    r = server.api("GET", f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}")
    return r.json().get("state") if r.status_code == 200 else None


def run_state(server: AirflowServer, dag_id: str, run_id: str) -> str | None:
    r = server.api("GET", f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}")
    return r.json().get("state") if r.status_code == 200 else None


def wait_until_finished(server: AirflowServer, dag_id: str, run_id: str, timeout_s: float = 900) -> str:
    return wait_for(lambda: (s := run_state(server, dag_id, run_id)) in ("success", "failed") and s, timeout_s,
                    f"{dag_id} run {run_id} to finish")


def page_texts(page) -> str:
    """The page and every frame in it (the plugin's views are iframes), as HTML."""
    return "\n".join([page.content()] + [f.content() for f in page.frames if f != page.main_frame])


def run_ids(server: AirflowServer, dag_id: str) -> list[str]:
    return [r["dag_run_id"] for r in server.api("GET", f"/dags/{dag_id}/dagRuns").json()["dag_runs"]]


def trigger_from_form(page, server: AirflowServer, dag_id: str, fill=None) -> str:
    """Open the DAG's Trigger form (its "Unpause … on trigger" as it comes: a paused DAG's runs wait), let
    ``fill`` change fields, check that Trigger is enabled, submit; returns the new manual run's id."""
    before = set(run_ids(server, dag_id))
    page.goto(f"{server.url}/dags/{dag_id}")
    page.get_by_role("button", name="Trigger").first.click()
    dialog = page.get_by_role("dialog")
    if fill is not None:
        fill(dialog)
    submit = dialog.get_by_role("button", name="Trigger").last
    assert submit.is_enabled(), f"{dag_id}: the form cannot be submitted"
    submit.click()
    return wait_for(lambda: next((r for r in run_ids(server, dag_id) if r not in before and r.startswith("manual__")),
                                 None), 90, f"a new {dag_id} run")


def open_section(dialog, name: str) -> None:
    """Expand a section of the Params form (they start collapsed)."""
    button = dialog.get_by_role("button", name=name, exact=True)
    if button.get_attribute("aria-expanded") != "true":
        button.click()


def open_report_tab(page, dag_id: str, run_id: str, server: AirflowServer):
    page.goto(f"{server.url}/dags/{dag_id}/runs/{quote(run_id, safe='')}/plugin/genascope-report")
    report = page.frame_locator("iframe[title='Report']")
    try:
        report.locator("h1").first.wait_for(timeout=60_000)
    except Exception as exc:  # say what the tab got: the route's answer and a screenshot
        direct = page.request.get(f"{server.url}/genascope/runs/{dag_id}/{quote(run_id, safe='')}/report")
        page.screenshot(path=str(server.home / f"report-tab-{dag_id}.png"))
        raise AssertionError(f"Report tab of {dag_id} {run_id} did not render: route answered {direct.status} "
                             f"{direct.text()[:600]!r}; frames {[f.url for f in page.frames]}") from exc
    return report


def assert_readable_with_a_figure(report, what: str) -> str:
    """The tab shows at least one big number and nothing raw (JSON, Python repr, octal modes)."""
    text = report.locator("body").inner_text()
    figures = [t for t in report.locator(".big").all_inner_texts() if re.search(r"\d", t)]
    assert figures, f"{what}: no figure on the Report tab"
    raw = RAW.findall(text)
    assert not raw, f"{what}: raw values on the Report tab: {raw[:5]}"
    assert "No report yet" not in text, what
    return text


def test_migration_from_its_form_shows_the_plan_while_waiting_then_the_report_and_data_docs(
        server, page, app_database, seen):
    def real_run(dialog):
        for section in ("Safety", "Run"):
            assert dialog.get_by_role("button", name=section, exact=True).is_visible()
        dialog.get_by_role("button", name="Safety", exact=True).click()
        dry_run = dialog.locator("input[name=element_dry_run]")
        assert dry_run.is_checked() and dialog.locator("input[name=element_require_approval]").is_checked()
        dialog.locator("label:has(> input[name=element_dry_run])").click()
        assert not dry_run.is_checked()
        seen.append(page_texts(page))

    run_id = trigger_from_form(page, server, MIGRATION, real_run)

    for task_id in ("approval.approve_plan", "finalize.approve_finalize"):
        wait_for(lambda t=task_id: task_state(server, MIGRATION, run_id, t) == "awaiting_input", 900,
                 f"{task_id} to ask")
        if task_id == "approval.approve_plan":  # the approval's "Report tab" link: the plan so far
            report = open_report_tab(page, MIGRATION, run_id, server)
            text = assert_readable_with_a_figure(report, "migration waiting for approval")
            assert "waiting for approval" in report.get_by_test_id("report-status").inner_text()
            seen.append(page_texts(page))
        page.goto(f"{server.url}/dags/{MIGRATION}/runs/{quote(run_id, safe='')}/required_actions")
        required = page.get_by_role("dialog")
        required.get_by_text(task_id).first.wait_for()
        required.get_by_role("button", name="Approve").click()
        seen.append(page_texts(page))
        wait_for(lambda t=task_id: task_state(server, MIGRATION, run_id, t) == "success", 180, f"{task_id} to resume")

    assert wait_until_finished(server, MIGRATION, run_id) == "success"
    report = open_report_tab(page, MIGRATION, run_id, server)
    count = report.get_by_test_id("patient-count")
    with sa.create_engine(db.to_sqlalchemy_url(app_database)).connect() as conn:
        patients = conn.execute(sa.text("SELECT count(*) FROM patients")).scalar()
    assert int(count.inner_text().replace(",", "")) == patients > 0
    assert report.get_by_test_id("approval-approve_plan").inner_text() == "approved"
    text = assert_readable_with_a_figure(report, "migration")
    assert "done" in report.get_by_test_id("report-status").inner_text(), text[:400]
    # the GX Data Docs link opens (the same session as the UI)
    href = report.get_by_role("link", name="Great Expectations Data Docs").get_attribute("href")
    docs = page.request.get(f"{server.url}{href}")
    assert docs.status == 200 and "<html" in docs.text().lower()
    seen.append(page_texts(page))
    page.screenshot(path=str(DOCS / "report-tab.png"))


def test_import_from_its_form_with_the_defaults_names_files_and_the_held_one_with_its_reason(server, page, seen):
    """Nothing filled in: all sources, the Variable's landing. "Unpause on trigger" (the form's default) also
    lets the scheduler start the night that is due, as it does for a user: whichever run gets the files
    reports them; the other one says it discovered 0 files and names the run that took them."""
    manual = trigger_from_form(page, server, IMPORT)
    wait_until_finished(server, IMPORT, manual)
    time.sleep(5)  # a scheduled night created on unpause is queued by now
    runs = run_ids(server, IMPORT)
    for run_id in runs:
        wait_until_finished(server, IMPORT, run_id)
    took, other = None, []
    for run_id in runs:
        report = open_report_tab(page, IMPORT, run_id, server)
        report.get_by_test_id("file-count").wait_for()
        text = assert_readable_with_a_figure(report, f"import {run_id}")
        if "north_patients_20250601.csv" in text:
            took = run_id
            assert "east_patient_export_20250601.ndjson" in text
            held = report.get_by_test_id("held-files").inner_text()
            assert HELD_FILE in held and "reject_ratio_exceeded" in held
            # a per-file report opens as a page, not as raw markdown
            href = report.get_by_role("link", name="report").first.get_attribute("href")
            per_file = page.request.get(f"{server.url}{href}")
            assert per_file.status == 200 and "<table>" in per_file.text() and "| rows read |" not in per_file.text()
        else:
            other.append((run_id, report.get_by_test_id("nothing-imported").inner_text()))
        seen.append(page_texts(page))
    assert took is not None, runs
    for run_id, why in other:
        assert "discovered 0 files" in why and took in why, (run_id, why)


def test_stewardship_dismiss_in_dry_run_from_its_form_reports_on_its_tab(server, page, app_database, seen):
    with sa.create_engine(db.to_sqlalchemy_url(app_database)).begin() as conn:
        item = conn.execute(sa.text("SELECT item_id FROM patient_pipeline.review_queue WHERE status = 'open' "
                                    "ORDER BY created_at, item_id LIMIT 1")).scalar()
        if item is None:  # the night left none: a look-alike pair as the import records one (two real patients)
            review_id = conn.execute(sa.text(
                "INSERT INTO patient_pipeline.import_review (file_id, record_no, kind, patient_id, "
                "candidate_patient_id) SELECT (SELECT min(file_id) FROM patient_pipeline.import_file), 1, "
                "'name_dob_lookalike', min(id), max(id) FROM patients RETURNING review_id")).scalar_one()
            item = f"import:{review_id}"

    def dismiss(dialog):
        open_section(dialog, "Action")
        dialog.locator("#element_action").first.click()
        page.get_by_role("option", name="dismiss", exact=True).click()
        open_section(dialog, "Review items and patients")
        dialog.locator("[name=element_items], #element_items").first.fill(item)
        open_section(dialog, "Safety")
        assert dialog.locator("input[name=element_dry_run]").is_checked()  # dry run is the default

    run_id = trigger_from_form(page, server, STEWARDSHIP, dismiss)
    assert wait_until_finished(server, STEWARDSHIP, run_id) == "success"
    report = open_report_tab(page, STEWARDSHIP, run_id, server)
    text = assert_readable_with_a_figure(report, "stewardship")
    assert report.get_by_test_id("report-status").inner_text() == "dry run"
    assert "dismiss" in text and item in text and '"detail"' not in text
    seen.append(page_texts(page))


def test_rollback_with_its_defaults_then_refused_says_why_on_its_tab(server, page, seen):
    run_id = trigger_from_form(page, server, ROLLBACK)  # defaults: dry run, undo finalize only
    assert wait_until_finished(server, ROLLBACK, run_id) == "success"
    report = open_report_tab(page, ROLLBACK, run_id, server)
    assert_readable_with_a_figure(report, "rollback dry run")
    assert report.get_by_test_id("report-status").inner_text() == "dry run"

    def real_without_confirmation(dialog):
        open_section(dialog, "Safety")
        dialog.locator("label:has(> input[name=element_dry_run])").click()

    refused = trigger_from_form(page, server, ROLLBACK, real_without_confirmation)
    assert wait_until_finished(server, ROLLBACK, refused) == "failed"
    report = open_report_tab(page, ROLLBACK, refused, server)
    why = report.get_by_test_id("failure-reasons")
    why.wait_for()
    assert "validate_confirm" in why.inner_text() and "ROLLBACK" in why.inner_text()
    assert report.get_by_test_id("report-status").inner_text().startswith("failed")
    assert_readable_with_a_figure(report, "refused rollback")
    seen.append(page_texts(page))


def test_pipeline_page_lists_every_dag_warns_that_the_import_is_paused_and_shows_no_phi(
        server, page, app_database, seen):
    assert server.api("PATCH", f"/dags/{IMPORT}", json={"is_paused": True}).status_code == 200
    page.goto(f"{server.url}/plugin/patient-pipeline")
    pipeline = page.frame_locator("iframe[title='Patient pipeline']")
    pipeline.get_by_test_id("revision").wait_for()
    assert settings.REV_FINALIZE_INVITES in pipeline.get_by_test_id("revision").inner_text()
    assert "nightly import is paused" in pipeline.get_by_test_id("import-paused").inner_text()
    body = pipeline.locator("body").inner_text()
    for dag_id in (MIGRATION, IMPORT, STEWARDSHIP, ROLLBACK):
        assert dag_id in body
    assert pipeline.get_by_test_id("review-link").is_visible()
    seen.append(page_texts(page))
    page.screenshot(path=str(DOCS / "pipeline-page.png"), full_page=True)

    phi = seeded_phi(app_database)
    everything = "\n".join(seen)
    leaked = [s for s in phi if s in everything]
    assert len(phi) > 100 and leaked == [], f"{len(leaked)} seeded PHI strings on the pages"


def test_the_log_servers_listen_on_127_0_0_1_only(server):
    """Airflow 3.3 binds its log servers to every interface; `make airflow` and this harness bind them to
    127.0.0.1 (include/tools/airflow_local.py)."""
    env = Path(server.home / "standalone.log").read_text(errors="replace")
    ports = {int(p) for p in re.findall(r"logs server on 127\.0\.0\.1:(\d+)", env)}
    assert len(ports) == 2, env[-2000:]
    listening = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            host, port = local.rsplit(":", 1)
            if state == "0A" and int(port, 16) in ports:  # LISTEN
                listening.setdefault(int(port, 16), set()).add(host)
    assert set(listening) == ports, listening
    assert all(hosts == {"0100007F"} for hosts in listening.values()), listening
