"""The steward's review page on Airflow's real api-server app and a real app database: who may see it
(401/403), what one item shows (only its own patients, never another account's), the audit rows, no-store,
and decisions (merge/unmerge/refusals/busy lease) through the stewardship actions with the user as actor."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from include.core import alembic_driver, lease, pipeline_schema, settings

pytestmark = pytest.mark.airflow

ACCT, OTHER = "acct-north", "acct-other"
# synthetic values (no real person); the strings the tests look for on pages and in tables
A_FIRST, A_LAST, A_EMAIL = "Marisol", "Quintanilla", "marisol.q@example.test"
B_FIRST, B_EMAIL = "  MARISOL ", "m.quintanilla@example.test"
C_EMAIL = "unrelated.person@example.test"
X_FIRST, X_EMAIL = "Xanthippe", "xanthippe@other.test"
ORIGIN = "http://127.0.0.1"
IMPORT_ITEM = "import:1"


def seed(engine: sa.Engine) -> dict[str, str]:
    """Patients a (with user, invite, chat), b (a's copy: same name in another spacing/case, same DOB),
    c (unrelated, same account), d/e (linked to different users), x (another account); one import night's
    name + DOB item (b ~ a) and matcher pairs (a ~ c 0.97, d ~ e 0.91, a ~ x 0.55 across accounts)."""
    with engine.connect() as conn:
        alembic_driver.upgrade(conn, settings.REV_UPDATE_PATIENTS)
        pipeline_schema.ensure(conn)
    stmts = [
        f"INSERT INTO accounts (id, name) VALUES ('{ACCT}', 'North'), ('{OTHER}', 'Other')",
        f"INSERT INTO users (id, name, email, role, account_id) VALUES ('u-a', 'Marisol Q', 'u-a@example.test', "
        f"'patient', '{ACCT}'), ('u-d', 'Dee', 'u-d@example.test', 'patient', '{ACCT}'), "
        f"('u-e', 'Eve', 'u-e@example.test', 'patient', '{ACCT}')",
        "INSERT INTO patients (id, account_id, external_id, email, first_name, last_name, phone, date_of_birth, "
        "status, user_id) VALUES "
        f"('p-a', '{ACCT}', 'MRN-1', '{A_EMAIL}', '{A_FIRST}', '{A_LAST}', '+15550001111', '1980-01-02', 'active', 'u-a'), "
        f"('p-b', '{ACCT}', 'MRN-2', '{B_EMAIL}', '{B_FIRST}', 'quintanilla', NULL, '1980-01-02', 'pending', NULL), "
        f"('p-c', '{ACCT}', 'MRN-3', '{C_EMAIL}', 'Cornelius', 'Unrelated', NULL, '1975-05-05', 'pending', NULL), "
        f"('p-d', '{ACCT}', 'MRN-4', 'dee@example.test', 'Dee', 'Double', NULL, '1990-03-03', 'active', 'u-d'), "
        f"('p-e', '{ACCT}', 'MRN-5', 'eve@example.test', 'Dee', 'Double', NULL, '1990-03-03', 'active', 'u-e'), "
        f"('p-x', '{OTHER}', 'MRN-9', '{X_EMAIL}', '{X_FIRST}', 'Other', NULL, '1980-01-02', 'active', NULL)",
        "INSERT INTO invites (id, email, first_name, last_name, invite_token, status, patient_id) VALUES "
        f"('inv-a', '{A_EMAIL}', '{A_FIRST}', '{A_LAST}', 'tok-a', 'accepted', 'p-a')",
        "INSERT INTO chat_sessions (id, user_id, patient_id, status) VALUES ('cs-a', 'u-a', 'p-a', 'active')",
        "INSERT INTO patient_pipeline.import_file (source_id, account_id, file_name, location, sha256, size_bytes, "
        f"status) VALUES ('clinic-north-csv', '{ACCT}', 'north.csv', 'landing/north.csv', repeat('a', 64), 10, 'done')",
        "INSERT INTO patient_pipeline.import_insert_log (file_id, changed_fields, patient_ids) "
        "VALUES (1, ARRAY['first_name'], ARRAY['p-b'])",
        "INSERT INTO patient_pipeline.import_review (file_id, record_no, kind, patient_id, candidate_patient_id) "
        "VALUES (1, 2, 'name_dob_match', 'p-b', 'p-a')",
        f"INSERT INTO patient_pipeline.match_run (account_id, mode, trigger, status) VALUES ('{ACCT}', 'full', "
        "'on_demand', 'done')",
        "INSERT INTO patient_pipeline.match_pair (match_run_id, account_id, patient_id, candidate_patient_id, "
        "match_probability, evidence) VALUES "
        f"(1, '{ACCT}', 'p-a', 'p-c', 0.97, '{{\"first_name\": {{\"level\": \"jaro_winkler >= 0.92\", "
        "\"match_weight\": 4.5}, \"dob\": {\"level\": \"different\", \"match_weight\": -3.25}}'), "
        f"(1, '{ACCT}', 'p-d', 'p-e', 0.91, '{{\"first_name\": {{\"level\": \"exact\", \"match_weight\": 6}}}}'), "
        f"(1, '{ACCT}', 'p-a', 'p-x', 0.55, '{{}}')",
    ]
    with engine.begin() as conn:
        for s in stmts:
            conn.execute(sa.text(s.replace(":", r"\:")))
    return {"import": IMPORT_ITEM, "ac": "match:1", "de": "match:2", "ax": "match:3"}


def get(api, url, who, tokens, **kw):
    api.cookies.clear()
    headers = {"Authorization": f"Bearer {tokens[who]}"} if who else {}
    return api.get(url, headers=headers, **kw)


def item_url(item: str) -> str:
    return f"/genascope/review/items/{quote(item, safe='')}"


def post_decision(api, tokens, item: str, who: str = "admin", *, origin: str | None = ORIGIN,
                  token: str | None = None, **form: str):
    """A decision as the page's form sends it (cookie session, Origin, the page's token)."""
    api.cookies.clear()
    api.cookies.set("_token", tokens[who])
    if token is None:
        page = api.get(item_url(item))
        assert page.status_code == 200, page.text
        token = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text).group(1)
    headers = {"Origin": origin} if origin else {}
    return api.post(f"{item_url(item)}/decision", data={"csrf": token, **form}, headers=headers,
                    follow_redirects=False)


def rows(engine: sa.Engine, sql: str) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql))]


ROUTES = ["/genascope/review", item_url(IMPORT_ITEM), "/genascope/review/api/items",
          f"/genascope/review/api/items/{quote(IMPORT_ITEM, safe='')}"]


def test_anonymous_gets_401_and_read_only_users_403_on_every_review_route_all_no_store(api, tokens, app_env,
                                                                                         engine):
    seed(engine)
    for path in [*ROUTES, "/genascope/review/audit"]:
        anonymous = get(api, path, None, tokens)
        assert anonymous.status_code == 401, path
        assert anonymous.headers["cache-control"] == "no-store"
    for path in ROUTES:
        for who in ("viewer", "outsider"):
            denied = get(api, path, who, tokens)
            assert denied.status_code == 403, (path, who)
            assert denied.headers["cache-control"] == "no-store"
            assert A_EMAIL not in denied.text
    api.cookies.clear()
    api.cookies.set("_token", tokens["viewer"])
    assert api.post(f"{item_url(IMPORT_ITEM)}/decision", data={"decision": "dismiss"},
                    headers={"Origin": ORIGIN}).status_code == 403
    assert get(api, "/genascope/review/audit", "viewer", tokens).status_code == 200  # counts: read access
    assert get(api, "/genascope/review/audit", "outsider", tokens).status_code == 403
    assert rows(engine, "SELECT count(*) FROM patient_pipeline.review_audit") == [(0,)]
    assert rows(engine, "SELECT count(*) FROM patient_pipeline.import_review WHERE resolved_at IS NULL") == [(1,)]


def test_an_unknown_item_is_404_on_the_page_and_the_api_and_is_not_audited(api, tokens, app_env, engine):
    seed(engine)
    for path in (item_url("import:999"), "/genascope/review/api/items/match%3A999", item_url("nonsense")):
        response = get(api, path, "admin", tokens)
        assert response.status_code == 404 and response.headers["cache-control"] == "no-store"
    assert rows(engine, "SELECT count(*) FROM patient_pipeline.review_audit") == [(0,)]


def test_queue_ranks_matcher_items_by_probability_then_rule_kinds_with_filters_paging_and_no_values(
        api, tokens, app_env, engine):
    items = seed(engine)
    page = get(api, "/genascope/review", "admin", tokens)
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    order = re.findall(r'<tr data-item="([^"]+)">', page.text)
    assert order == [items["ac"], items["de"], items["ax"], items["import"]]
    assert 'data-testid="size-probable_duplicate">3<' in page.text
    assert 'data-testid="size-name_dob_match">1<' in page.text
    for value in (A_FIRST, A_EMAIL, B_EMAIL, C_EMAIL, X_EMAIL):
        assert value not in page.text
    only_import = get(api, "/genascope/review?origin=import:1", "admin", tokens).text
    assert re.findall(r'<tr data-item="([^"]+)">', only_import) == [items["import"]]
    assert re.findall(r'<tr data-item="([^"]+)">', get(api, "/genascope/review?kind=name_dob_match&account="
                                                        f"{ACCT}", "admin", tokens).text) == [items["import"]]
    api_page = get(api, "/genascope/review/api/items?kind=probable_duplicate&page=1", "admin", tokens).json()
    assert [i["item_id"] for i in api_page["items"]] == [items["ac"], items["de"], items["ax"]]
    assert api_page["open_by_kind"] == {"probable_duplicate": 3, "name_dob_match": 1}
    # the item links keep the filters and page (the steward's place)
    filtered = get(api, "/genascope/review?kind=probable_duplicate&page=1", "admin", tokens).text
    assert 'href="/genascope/review/items/match%3A1?kind=probable_duplicate"' in filtered
    assert rows(engine, "SELECT count(*) FROM patient_pipeline.review_audit") == [(0,)]  # ids only: no view


def test_item_page_shows_both_records_differences_evidence_links_and_records_the_view(api, tokens, app_env,
                                                                                       engine):
    items = seed(engine)
    page = get(api, item_url(items["import"]), "admin", tokens)
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    text = page.text
    assert A_EMAIL in text and B_EMAIL in text and A_LAST in text
    first_name_row = re.search(r"<tr class=\"(\w+)\"><th scope=\"row\">First name</th>.*?</tr>", text, re.S)
    assert first_name_row.group(1) == "form" and "differs only in spacing/case/accents" in first_name_row.group(0)
    assert re.search(r'<tr class="differs"><th scope="row">E-mail</th>', text)
    assert re.search(r'<tr class="same"><th scope="row">Date of birth</th>', text)
    assert "inv-a" in text and "cs-a" in text and "u-a" in text and "file 1" in text  # what each is linked to
    assert C_EMAIL not in text and X_EMAIL not in text
    evidence = get(api, item_url(items["ac"]), "admin", tokens).text
    assert "<svg" in evidence and "jaro_winkler &gt;= 0.92" in evidence and "+4.50" in evidence and "-3.25" in evidence
    audit = rows(engine, "SELECT actor, event, item_id, patient_ids FROM patient_pipeline.review_audit "
                         "ORDER BY audit_id")
    assert audit == [("admin", "view", items["import"], ["p-b", "p-a"]), ("admin", "view", items["ac"], ["p-a", "p-c"])]
    # the audit never holds a value
    dump = str(rows(engine, "SELECT * FROM patient_pipeline.review_audit"))
    assert A_EMAIL not in dump and A_FIRST not in dump


def test_an_item_never_reveals_a_patient_of_another_account_or_one_not_part_of_it(api, tokens, app_env, engine):
    items = seed(engine)
    cross = get(api, item_url(items["ax"]), "admin", tokens)
    assert cross.status_code == 200
    assert X_EMAIL not in cross.text and X_FIRST not in cross.text
    assert "p-x of this item belong to another account" in cross.text
    assert 'data-testid="merge-into-left"' not in cross.text  # no pair to merge
    cross_api = get(api, f"/genascope/review/api/items/{quote(items['ax'], safe='')}", "admin", tokens).json()
    assert [p["id"] for p in cross_api["patients"]] == ["p-a"] and cross_api["withheld_patient_ids"] == ["p-x"]
    assert X_EMAIL not in str(cross_api)
    # a patient id that is not part of the item cannot be asked for: only the item's own ids are read
    other = get(api, item_url(items["import"]) + "?patient_id=p-c&candidate_patient_id=p-x", "admin", tokens)
    assert C_EMAIL not in other.text and X_EMAIL not in other.text
    assert rows(engine, "SELECT patient_ids FROM patient_pipeline.review_audit ORDER BY audit_id") == [
        (["p-a"],), (["p-a"],), (["p-b", "p-a"],)]


def test_merge_from_the_page_is_recorded_under_the_user_audited_keeps_the_place_and_unmerges_exactly(
        api, tokens, app_env, engine):
    items = seed(engine)
    before = rows(engine, "SELECT * FROM patients ORDER BY id") + rows(engine, "SELECT * FROM invites ORDER BY id")
    merged = post_decision(api, tokens, items["import"], decision="merge", survivor="p-a", kind="name_dob_match",
                           page="1")
    assert merged.status_code == 303 and merged.headers["cache-control"] == "no-store"
    location = merged.headers["location"]
    assert location.startswith(item_url(items["import"]) + "?kind=name_dob_match&outcome=applied&decision=merge")
    assert rows(engine, "SELECT action, actor, origin, status FROM patient_pipeline.steward_action") == [
        ("merge", "admin", "ui", "applied")]
    assert rows(engine, "SELECT status FROM patients WHERE id = 'p-b'") == [("archived",)]
    after = api.get(location)
    assert 'data-testid="decided-by">admin<' in after.text and 'data-testid="outcome"' in after.text
    assert "Done:" in after.text and 'data-testid="unmerge"' in after.text
    queue = api.get("/genascope/review").text
    assert items["import"] not in re.findall(r'<tr data-item="([^"]+)">', queue)
    unmerged = post_decision(api, tokens, items["import"], decision="unmerge")
    assert unmerged.status_code == 303 and "outcome=applied" in unmerged.headers["location"]
    assert rows(engine, "SELECT * FROM patients ORDER BY id") + rows(engine, "SELECT * FROM invites ORDER BY id") \
        == before
    assert rows(engine, "SELECT status, decided_by FROM patient_pipeline.review_queue WHERE item_id = 'import:1'") \
        == [("open", None)]
    decisions = rows(engine, "SELECT actor, action, outcome, item_id, patient_ids FROM patient_pipeline.review_audit "
                             "WHERE event = 'decision' ORDER BY audit_id")
    assert decisions == [("admin", "merge", "applied", "import:1", ["p-b", "p-a"]),
                         ("admin", "unmerge", "applied", "import:1", ["p-b", "p-a"])]
    counts = get(api, "/genascope/review/audit", "admin", tokens).text
    # 3 views (before the merge, its outcome, before the unmerge) of 1 item, 2 decisions applied
    assert re.search(r'<tr data-user="admin"><td>admin</td><td class="n">3</td><td class="n">1</td>\s*'
                     r'<td class="n">2</td><td class="n">2</td>', counts)
    assert 'href="review/audit"' in get(api, "/genascope/pipeline", "admin", tokens).text


def test_refusals_busy_lease_and_forged_posts_change_nothing_and_say_why(api, tokens, app_env, engine):
    items = seed(engine)
    refused = post_decision(api, tokens, items["de"], decision="merge", survivor="p-d", account=ACCT, page="2")
    assert refused.status_code == 303
    assert "account=acct-north&page=2&outcome=refused" in refused.headers["location"]
    shown = api.get(refused.headers["location"]).text
    assert 'data-testid="reason">different_users<' in shown and "different user accounts" in shown
    assert rows(engine, "SELECT status FROM patients WHERE id IN ('p-d', 'p-e')") == [("active",), ("active",)]
    # the pipeline lease is held by a DAG run: busy, nothing changed
    with engine.connect() as conn:
        lease.acquire(conn, "clinic_patient_import", "scheduled__night")
    busy = post_decision(api, tokens, items["ac"], decision="dismiss")
    assert "outcome=busy" in busy.headers["location"]
    assert "clinic_patient_import" in api.get(busy.headers["location"]).text
    with engine.connect() as conn:
        lease.release(conn, "scheduled__night")
    # forged: another origin, no origin, a wrong token, a survivor that is not part of the pair
    assert post_decision(api, tokens, items["ac"], origin="https://evil.example", decision="dismiss").status_code == 403
    assert post_decision(api, tokens, items["ac"], origin=None, decision="dismiss").status_code == 403
    assert post_decision(api, tokens, items["ac"], token="0" * 64, decision="dismiss").status_code == 403
    assert post_decision(api, tokens, items["ac"], decision="merge", survivor="p-x").status_code == 400
    assert rows(engine, "SELECT status FROM patient_pipeline.review_queue WHERE item_id = 'match:1'") == [("open",)]
    assert rows(engine, "SELECT outcome, reason_code FROM patient_pipeline.review_audit WHERE event = 'decision' "
                        "ORDER BY audit_id") == [("refused", "different_users"), ("busy", "pipeline_busy")]
    # keep_separate on a matcher item resolves the pair and is recorded with the user
    api.cookies.set("_token", tokens["admin"])
    open_page = api.get(item_url(items["ac"])).text  # a second steward's tab, still showing the open item
    stale_token = re.search(r'name="csrf" value="([0-9a-f]+)"', open_page).group(1)
    kept = post_decision(api, tokens, items["ac"], decision="keep_separate")
    assert "outcome=applied" in kept.headers["location"]
    assert rows(engine, "SELECT resolution FROM patient_pipeline.match_pair WHERE pair_id = 1") == [("kept_separate",)]
    # a page left open while another steward decided the item: refused (not_open), nothing else changes
    stale = post_decision(api, tokens, items["ac"], token=stale_token, decision="dismiss")
    assert "outcome=refused" in stale.headers["location"] and "reason=not_open" in stale.headers["location"]
    assert rows(engine, "SELECT resolution FROM patient_pipeline.match_pair WHERE pair_id = 1") == [("kept_separate",)]


def test_the_plugin_registers_the_review_queue_in_the_navigation(api, tokens):
    plugins = get(api, "/api/v2/plugins", "admin", tokens).json()["plugins"]
    ours = next(p for p in plugins if p["name"] == "genascope_pipeline")
    views = {v["name"]: v for v in ours["external_views"]}
    assert views["Review queue"]["destination"] == "nav"
    assert views["Review queue"]["href"] == "/genascope/review"
    assert views["Review queue"]["url_route"] == "review-queue"
