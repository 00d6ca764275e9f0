"""What the source says now wins (integrity issue): a take-down stays down whatever path writes
next, until it is restored; a teaser never replaces the full text of the same article."""

from __future__ import annotations

import json

from bot.admin import NewsAdmin
from bot.qa import NewsQA
from tests.conftest import invoke_cli

FULL = {
    "id": "brand-hafen",
    "url": "https://example.org/brand-hafen.html",
    "title": "Großbrand in Lagerhalle am Hafen",
    "published": "2022-03-08T10:00:00+01:00",
    "text": "Ein Großbrand hat in der Nacht eine Lagerhalle am Hamburger Hafen zerstört. "
    "Die Feuerwehr war mit 120 Einsatzkräften vor Ort. Verletzt wurde niemand. "
    "Die Ursache des Feuers ist noch unklar, die Polizei ermittelt. "
    "Der Schaden wird auf mehrere Millionen Euro geschätzt.",
}
TEASER = {**FULL, "text": "Ein Großbrand hat in der Nacht eine Lagerhalle am Hamburger Hafen zerstört. Mehr ..."}


def ingest(admin: NewsAdmin, *records: dict, restore: bool = False):
    return admin.ingest(admin.loader().load_records("\n".join(json.dumps(r) for r in records), "test"), restore=restore)


def test_a_taken_down_article_stays_down_until_restored(settings, e5):
    with NewsAdmin.open(settings, embedder=e5) as admin:
        assert ingest(admin, FULL).added == 1
        assert admin.remove([FULL["id"]]).removed == 1
        again = ingest(admin, FULL)  # a manual ingest of the same feed item, say
        assert again.added == 0 and again.kept_down == 1
        assert "taken down" in again.warnings[0]["reason"] and "newsbot restore" in again.warnings[0]["reason"]
        other_id = ingest(admin, {**FULL, "id": "same-page-other-id"})  # the same URL under another id
        assert other_id.added == 0 and other_id.kept_down == 1
        assert admin.stats().taken_down == 1
        check = admin.check()
        assert check.ok and check.taken_down_but_indexed == 0
    with NewsQA(settings.model_copy(update={"reader": "none"}), embedder=e5) as qa:
        assert qa.catalog.article(FULL["id"]) is None
    with NewsAdmin.open(settings, embedder=e5) as admin:
        assert admin.restore([FULL["id"]]).restored == 1
        assert admin.restore(["never-removed"]).failed
        assert ingest(admin, FULL).added == 1
        assert admin.stats().taken_down == 0


def test_ingest_restore_brings_a_taken_down_article_back(settings, e5):
    with NewsAdmin.open(settings, embedder=e5) as admin:
        ingest(admin, FULL)
        admin.remove([FULL["id"]])
        report = ingest(admin, FULL, restore=True)
        assert report.added == 1 and report.restored == 1


def test_a_teaser_never_replaces_the_full_text(settings, e5):
    with NewsAdmin.open(settings, embedder=e5) as admin:
        ingest(admin, FULL)
        before = admin.stats().sentences
        report = ingest(admin, TEASER)
        assert report.updated == 0 and report.kept_full_text == 1
        assert "kept the full text" in report.warnings[0]["reason"]
        assert admin.stats().sentences == before
        corrected = ingest(admin, {**FULL, "text": FULL["text"] + " Am Morgen war das Feuer gelöscht."})
        assert corrected.updated == 1  # a longer correction is an update as always


def test_cli_remove_restore_and_stats(settings, e5, tmp_path):
    record = tmp_path / "brand.json"
    record.write_text(json.dumps(FULL), encoding="utf-8")
    env = {"NEWSBOT_DATA_DIR": str(settings.data_dir)}
    assert invoke_cli("ingest", str(record), env=env).returncode == 0
    assert invoke_cli("remove", FULL["id"], env=env).returncode == 0
    again = invoke_cli("ingest", str(record), "--json", env=env)
    assert json.loads(again.stdout)["kept_down"] == 1
    assert "Taken down: 1" in invoke_cli("stats", env=env).stdout
    assert invoke_cli("restore", FULL["id"], env=env).returncode == 0
    assert json.loads(invoke_cli("ingest", str(record), "--json", env=env).stdout)["added"] == 1
