"""The UI as a user sees it: Debian's chromium (driven by Playwright, no downloaded browser) against a real
``airflow standalone`` of this test's own: log in, trigger a real migration from its Params form, approve
both approvals under Required Actions, read the patient count on the run's Report tab, open the Patient
pipeline page, and check that no seeded name or e-mail appears on any page. Screenshots go to docs/."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from include import seed as seeder
from include.core import db, settings
from include.migration import driver
from tests.browser.airflow_server import AirflowServer, airflow_standalone
from tests.phi import seeded_phi

pytestmark = [pytest.mark.airflow, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
DAG = "patient_first_migration"
INVITES = 300
DOCS = settings.PROJECT_ROOT / "docs"


@pytest.fixture(scope="module")
def app_database():
    """A database of its own on the embedded server (the one `make airflow` uses): the UI is what is
    tested here, once; the DAG and route tests cover both servers."""
    from tests.conftest import create_database, drop_database, server_admin_uri

    pg_server = server_admin_uri("embedded")
    uri = create_database(pg_server, "gs_browser")
    with db.app_engine(uri).connect() as conn:
        driver.upgrade(conn, settings.REV_BASELINE)
    seeder.generate(uri, INVITES, 21)
    yield uri
    drop_database(pg_server, uri)


@pytest.fixture(scope="module")
def server(app_database, tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is missing: run `make chromium` (Debian's package)")
    home = tmp_path_factory.mktemp("airflow-home")
    env = {db.ENV_CONN: app_database, "GENASCOPE_RUNS_DIR": str(home / "runs")}
    with airflow_standalone(home, env) as running:
        yield running


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


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


def task_state(server: AirflowServer, run_id: str, task_id: str) -> str | None:
    from urllib.parse import quote

    r = server.api("GET", f"/dags/{DAG}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}")
    return r.json().get("state") if r.status_code == 200 else None


def page_texts(page) -> str:
    """The page and every frame in it (the plugin's views are iframes), as HTML."""
    return "\n".join([page.content()] + [f.content() for f in page.frames if f != page.main_frame])


def test_trigger_approve_and_read_the_report_in_the_browser_with_no_phi_on_any_page(server, browser,
                                                                                     app_database):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(120_000)
    seen: list[str] = []

    # 1. log in (the simple auth manager's form)
    page.goto(f"{server.url}/")
    page.get_by_label("Username").fill(server.user)
    page.get_by_label("Password").fill(server.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{server.url}/**")
    page.get_by_text("Dags", exact=False).first.wait_for()

    # 2. trigger a real migration from its Params form (sections "Safety" and "Run")
    page.goto(f"{server.url}/dags/{DAG}")
    page.get_by_role("button", name="Trigger").first.click()
    dialog = page.get_by_role("dialog")
    for section in ("Safety", "Run"):
        assert dialog.get_by_role("button", name=section, exact=True).is_visible()
    dialog.get_by_role("button", name="Safety", exact=True).click()
    dry_run = dialog.locator("input[name=element_dry_run]")
    require_approval = dialog.locator("input[name=element_require_approval]")
    assert dry_run.is_checked() and require_approval.is_checked()  # the safe defaults
    dialog.locator("label:has(> input[name=element_dry_run])").click()
    assert not dry_run.is_checked()
    seen.append(page_texts(page))
    dialog.get_by_role("button", name="Trigger").last.click()

    run_id = wait_for(lambda: next((r["dag_run_id"] for r in server.api("GET", f"/dags/{DAG}/dagRuns").json()
                                    ["dag_runs"]), None), 60, "the triggered run")

    # 3. approve both approvals in the UI (the run's Required Actions)
    from urllib.parse import quote

    for task_id in ("approval.approve_plan", "finalize.approve_finalize"):
        wait_for(lambda t=task_id: task_state(server, run_id, t) == "awaiting_input", 900, f"{task_id} to ask")
        page.goto(f"{server.url}/dags/{DAG}/runs/{quote(run_id, safe='')}/required_actions")
        required = page.get_by_role("dialog")
        required.get_by_text(task_id).first.wait_for()
        required.get_by_role("button", name="Approve").click()
        seen.append(page_texts(page))
        wait_for(lambda t=task_id: task_state(server, run_id, t) == "success", 180, f"{task_id} to resume")

    wait_for(lambda: server.api("GET", f"/dags/{DAG}/dagRuns/{quote(run_id, safe='')}").json()["state"]
             in ("success", "failed"), 900, "the run to finish")
    assert server.api("GET", f"/dags/{DAG}/dagRuns/{quote(run_id, safe='')}").json()["state"] == "success"

    # 4. the run's Report tab: the patient count
    page.goto(f"{server.url}/dags/{DAG}/runs/{quote(run_id, safe='')}/plugin/genascope-report")
    report = page.frame_locator("iframe[title='Report']")
    count = report.get_by_test_id("patient-count")
    count.wait_for()
    with sa.create_engine(db.to_sqlalchemy_url(app_database)).connect() as conn:
        patients = conn.execute(sa.text("SELECT count(*) FROM patients")).scalar()
    assert int(count.inner_text().replace(",", "")) == patients > 0
    assert report.get_by_test_id("approval-approve_plan").inner_text() == "approved"
    seen.append(page_texts(page))
    page.screenshot(path=str(DOCS / "report-tab.png"))

    # 5. the Patient pipeline page
    page.goto(f"{server.url}/plugin/patient-pipeline")
    pipeline = page.frame_locator("iframe[title='Patient pipeline']")
    pipeline.get_by_test_id("revision").wait_for()
    assert settings.REV_FINALIZE_INVITES in pipeline.get_by_test_id("revision").inner_text()
    assert run_id in pipeline.locator("body").inner_text()
    seen.append(page_texts(page))
    page.screenshot(path=str(DOCS / "pipeline-page.png"))

    # 6. no seeded name or e-mail anywhere
    phi = seeded_phi(app_database)
    everything = "\n".join(seen)
    leaked = [s for s in phi if s in everything]
    assert len(phi) > 100 and leaked == [], f"{len(leaked)} seeded PHI strings on the pages"
    context.close()
    shutil.copy(server.log, server.home / "standalone.kept.log")
