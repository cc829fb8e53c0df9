"""The steward's review page as a steward uses it: Debian's chromium (Playwright) against a real
``airflow standalone`` of this test's own. A normal import night (the clinic_patient_import DAG, run by the
scheduler) queues a copy of a patient (same name in other spacing/case, same date of birth); the steward
opens the Review queue, opens the pair, sees both records and the evidence chart of a matcher pair, merges,
sees the queue shrink and the merge recorded under their user name, and unmerges. A viewer gets 403 on the
item page and on the API route. No seeded value appears in the run's logs, reports, XComs, conf or on any
other page. Screenshots (synthetic data only) go to docs/."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import sqlalchemy as sa
import yaml

from include.core import alembic_driver, db, settings
from tests.browser.airflow_server import airflow_standalone
from tests.browser.test_ui_end_to_end import CHROMIUM, CHROMIUM_ARGS, DOCS, page_texts, wait_for

pytestmark = [pytest.mark.airflow, pytest.mark.browser]

IMPORT_DAG = "clinic_patient_import"
ACCOUNT = "acct-clinic-north"
HEADER = "Patient First Name,Patient Last Name,DOB,MRN,Cell Phone,Email,Primary Insurance\n"
# Synthetic people (made up for this test). The last row is a copy of the first: its name in other spacing
# and case, the same date of birth, another e-mail, phone and MRN: the import queues it (name_dob_match).
ROWS = [
    ("Rosalind", "Featherstone", "3/14/1971", "RV-2001", "(202) 555-0170", "rosalind.featherstone@example.com"),
    ("Bartholomew", "Quenby", "7/9/1988", "RV-2002", "(202) 555-0171", "bart.quenby@example.com"),
    ("Ottoline", "Marchbank", "12/1/1955", "RV-2003", "(202) 555-0172", "ottoline.marchbank@example.com"),
    (" ROSALIND ", "featherstone", "3/14/1971", "RV-2099", "(202) 555-0179", "r.featherstone@example.org"),
]
SEEDED = sorted({v.strip() for r in ROWS for v in (r[1], r[5], f"{r[0].strip()} {r[1]}")}
                | {"+12025550170", "+12025550179", "1971-03-14", "Featherstone", "Marchbank", "Quenby"})


@pytest.fixture(scope="module")
def app_database():
    from tests.conftest import create_database, drop_database, server_admin_uri

    pg_server = server_admin_uri("embedded")
    uri = create_database(pg_server, "gs_review")
    with db.app_engine(uri).connect() as conn:
        alembic_driver.upgrade(conn, settings.REV_UPDATE_PATIENTS)
    with db.app_engine(uri).begin() as conn:
        conn.execute(sa.text("INSERT INTO accounts (id, name) VALUES (:a, :a)"), {"a": ACCOUNT})
    yield uri
    drop_database(pg_server, uri)


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> tuple[Path, Path]:
    """One clinic source (the sample north clinic's settings) landing in a folder of this test, with the
    night's file in incoming/."""
    from include.imports.sources import load_sources

    root = tmp_path_factory.mktemp("landing")
    folder = root / "clinic-north"
    (folder / "incoming").mkdir(parents=True)
    (folder / "incoming" / "north_patients_20261207.csv").write_text(
        HEADER + "".join(",".join(f'"{v}"' for v in r) + ",Fictional Health\n" for r in ROWS), encoding="utf-8")
    north = load_sources()["clinic-north-csv"]
    entry = {k: getattr(north, k) for k in north.__dataclass_fields__}
    entry.update(landing=str(folder), date_formats=list(entry["date_formats"]),
                 quarantine_formula_prefixes=list(entry["quarantine_formula_prefixes"]))
    sources = root / "clinic_sources.yaml"
    sources.write_text(yaml.safe_dump({"landing_roots": [str(root)],
                                       "sources": [{k: v for k, v in entry.items() if v is not None}]}))
    return root, sources


@pytest.fixture(scope="module")
def server(app_database, landing, tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is missing: run `make chromium` (Debian's package)")
    home = tmp_path_factory.mktemp("airflow-home")
    env = {db.ENV_CONN: app_database, "GENASCOPE_RUNS_DIR": str(home / "runs"),
           "GENASCOPE_CLINIC_SOURCES": str(landing[1]),
           # a viewer too (read-only): the harness's passwords file gets a generated password for it
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,viewer:viewer",
           # a busy machine answers the task runner's execution-API calls slowly: Airflow's documented knob
           # (default 5 s) instead of a night failed at its first task
           "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60"}
    with airflow_standalone(home, env) as running:
        yield running


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def login(browser, server, user: str, password: str):
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    page = context.new_page()
    page.set_default_timeout(120_000)
    page.goto(f"{server.url}/")
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{server.url}/**")
    page.get_by_text("Dags", exact=False).first.wait_for()
    return context, page


def run_import_night(server, landing_root: Path) -> str:
    """A normal import night: the landing root Variable names this test's landing, the DAG is unpaused and
    the scheduler runs its latest night (catchup off); it succeeds. Returns its run id."""
    var = server.api("PATCH", "/variables/genascope_landing_root",
                     json={"key": "genascope_landing_root", "value": str(landing_root)})
    assert var.status_code == 200, var.text
    assert server.api("PATCH", f"/dags/{IMPORT_DAG}", json={"is_paused": False}).status_code == 200

    def finished():
        runs = server.api("GET", f"/dags/{IMPORT_DAG}/dagRuns").json()["dag_runs"]
        done = runs and all(r["state"] in ("success", "failed") for r in runs)
        return runs if done else None

    runs = wait_for(finished, 1200, "the import night to finish", every_s=5)
    server.api("PATCH", f"/dags/{IMPORT_DAG}", json={"is_paused": True})
    assert [r["state"] for r in runs] == ["success"], [r["state"] for r in runs]
    return runs[0]["dag_run_id"]


def seed_matcher_pair(uri: str) -> str:
    """A matcher pair with evidence (what the matcher writes: ids, levels, weights) between two imported
    patients that are not the copy: for the evidence chart and the probability ranking."""
    with db.app_engine(uri).begin() as conn:
        ids = conn.execute(sa.text("SELECT id FROM patients WHERE external_id IN ('RV-2002', 'RV-2003') ORDER BY id")
                           ).scalars().all()
        run_id = conn.execute(sa.text(
            "INSERT INTO patient_pipeline.match_run (account_id, mode, trigger, status) VALUES (:a, 'full', "
            "'on_demand', 'done') RETURNING match_run_id"), {"a": ACCOUNT}).scalar_one()
        evidence = {"first_name": {"level": "jaro_winkler < 0.7", "match_weight": -4.1},
                    "last_name": {"level": "different", "match_weight": -5.2},
                    "date_of_birth": {"level": "same year", "match_weight": 1.3},
                    "phone": {"level": "same last 7 digits", "match_weight": 6.4}}
        pair = conn.execute(sa.text(
            "INSERT INTO patient_pipeline.match_pair (match_run_id, account_id, patient_id, candidate_patient_id, "
            "match_probability, evidence) VALUES (:r, :a, :p, :c, 0.42, CAST(:e AS jsonb)) RETURNING pair_id"),
            {"r": run_id, "a": ACCOUNT, "p": ids[0], "c": ids[1], "e": json.dumps(evidence)}).scalar_one()
    return f"match:{pair}"


def files_text(root: Path) -> str:
    out = []
    for path in root.rglob("*"):
        if path.is_file() and path.suffix in (".log", ".json", ".md", ".txt", ".html", "") and path.stat().st_size < 50e6:
            out.append(path.read_text(errors="replace"))
    return "\n".join(out)


def test_a_steward_reviews_merges_and_unmerges_a_queued_copy_and_a_viewer_is_refused(server, browser, app_database,
                                                                                      landing):
    night_run = run_import_night(server, landing[0])
    engine = db.app_engine(app_database)
    with engine.connect() as conn:
        queued = conn.execute(sa.text(
            "SELECT item_id, patient_id, candidate_patient_id FROM patient_pipeline.review_queue "
            "WHERE status = 'open' AND kind = 'name_dob_match'")).all()
    assert len(queued) == 1, queued
    copy_item = queued[0].item_id
    match_item = seed_matcher_pair(app_database)
    other_pages: list[str] = []

    # 1. the steward opens the Review queue (navigation entry): ranked, the copy queued
    context, page = login(browser, server, server.user, server.password)
    page.goto(f"{server.url}/plugin/review-queue")
    queue = page.frame_locator("iframe[title='Review queue']")
    queue.get_by_test_id("open-total").wait_for()
    assert queue.get_by_test_id("open-total").inner_text() == "2"
    assert queue.locator("tr[data-item]").evaluate_all("rows => rows.map(r => r.dataset.item)") == [
        match_item, copy_item]
    other_pages.append(page_texts(page))
    page.screenshot(path=str(DOCS / "review-queue.png"))

    # 2. the matcher pair: the evidence chart
    queue.get_by_role("link", name=match_item).click()
    queue.get_by_test_id("evidence-chart").locator("svg").wait_for()
    assert queue.get_by_test_id("evidence-table").locator("tbody tr").count() == 4
    page.screenshot(path=str(DOCS / "review-evidence.png"), full_page=True)
    queue.get_by_test_id("back").click()

    # 3. the copy side by side: both records, the name "differs only in spacing/case/accents"
    queue.get_by_role("link", name=copy_item).click()
    records = queue.get_by_test_id("records")
    records.wait_for()
    text = records.inner_text()
    assert "rosalind.featherstone@example.com" in text and "r.featherstone@example.org" in text
    assert "differs only in spacing/case/accents" in text
    page.screenshot(path=str(DOCS / "review-item.png"), full_page=True)

    # 4. merge into the first patient (the original): outcome, recorded under the user's name
    original = queued[0].candidate_patient_id  # the earlier row of the file
    survivor_button = "merge-into-left" if queued[0].patient_id == original else "merge-into-right"
    queue.get_by_test_id(survivor_button).click()
    outcome = queue.get_by_test_id("outcome")
    outcome.wait_for()
    assert "Done:" in outcome.inner_text() and server.user in outcome.inner_text()
    assert queue.get_by_test_id("decided-by").inner_text() == server.user
    with engine.connect() as conn:
        assert conn.execute(sa.text(
            "SELECT actor, origin, status FROM patient_pipeline.steward_action WHERE action = 'merge'")).all() == [
            (server.user, "ui", "applied")]

    # 5. back to the queue (same place): it shrank
    queue.get_by_test_id("back").click()
    queue.get_by_test_id("open-total").wait_for()
    assert queue.get_by_test_id("open-total").inner_text() == "1"
    assert queue.locator(f"tr[data-item='{copy_item}']").count() == 0
    other_pages.append(page_texts(page))

    # 6. unmerge from the item (the page works on its own too, outside the UI's frame)
    page.goto(f"{server.url}/genascope/review/items/{quote(copy_item, safe='')}")
    page.get_by_test_id("item-status").wait_for()
    assert "merged" in page.get_by_test_id("item-status").inner_text(), page.get_by_test_id("item-status").inner_text()
    page.get_by_test_id("unmerge").click()
    page.get_by_test_id("outcome").wait_for()
    assert "Done:" in page.get_by_test_id("outcome").inner_text()
    assert "open" in page.get_by_test_id("item-status").inner_text()
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM patients WHERE status = 'archived'")).scalar() == 0
        audit = conn.execute(sa.text(
            "SELECT event, count(*) FROM patient_pipeline.review_audit WHERE actor = :u GROUP BY event ORDER BY 1"),
            {"u": server.user}).all()
    assert [a[0] for a in audit] == ["decision", "view"] and audit[0][1] == 2

    # 7. the other pages: audit counts, the Patient pipeline page, the import night's report tab
    page.goto(f"{server.url}/genascope/review/audit")
    page.locator(f"tr[data-user='{server.user}']").wait_for()
    other_pages.append(page_texts(page))
    page.goto(f"{server.url}/plugin/patient-pipeline")
    pipeline = page.frame_locator("iframe[title='Patient pipeline']")
    pipeline.get_by_test_id("review-audit-link").wait_for()
    other_pages.append(page_texts(page))
    page.goto(f"{server.url}/dags/{IMPORT_DAG}/runs/{quote(night_run, safe='')}/plugin/genascope-report")
    page.frame_locator("iframe[title='Report']").locator("h1").first.wait_for()
    other_pages.append(page_texts(page))
    context.close()

    # 8. a viewer (read access only): 403 on the item page and on the API route
    passwords = json.loads((server.home / "passwords.json").read_text())
    viewer_ctx, viewer_page = login(browser, server, "viewer", passwords["viewer"])
    response = viewer_page.goto(f"{server.url}/genascope/review/items/{quote(copy_item, safe='')}")
    assert response.status == 403 and "rosalind" not in viewer_page.content().lower()
    viewer_ctx.close()
    viewer_token = httpx.post(f"{server.url}/auth/token", json={"username": "viewer", "password": passwords["viewer"]},
                              timeout=120).json()["access_token"]
    api = httpx.get(f"{server.url}/genascope/review/api/items/{quote(copy_item, safe='')}",
                    headers={"Authorization": f"Bearer {viewer_token}"}, timeout=120)
    assert api.status_code == 403 and api.headers["cache-control"] == "no-store"

    # 9. no seeded value on any other page, in the logs, reports, the runs' conf or XComs
    runs = server.api("GET", f"/dags/{IMPORT_DAG}/dagRuns").json()["dag_runs"]
    xcoms = [server.api("GET", f"/dags/{IMPORT_DAG}/dagRuns/{quote(r['dag_run_id'], safe='')}/taskInstances/~/"
                               "xcomEntries", params={"deserialize": True}).text for r in runs]
    everything = "\n".join([*other_pages, files_text(server.home), json.dumps(runs), *xcoms])
    assert re.search(r"standalone|scheduler", everything)  # the logs were read
    leaked = [s for s in SEEDED if s.lower() in everything.lower()]
    assert leaked == [], f"{len(leaked)} seeded values outside the review item page"
