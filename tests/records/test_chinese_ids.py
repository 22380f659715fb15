"""Rule ids and categories as real charters write them (LY-01, 党建引领), with entry codes
that stay the same for as long as the category does."""

from __future__ import annotations

import pytest

from jifen.charters import service as charters
from jifen.charters.errors import CharterInvalidProblem
from jifen.config import Settings
from jifen.db import Database
from tests.records.charters import qingquan, rule
from tests.records.world import make_world


def _document(rule_id: str, category: str) -> dict[str, object]:
    document = qingquan()
    cleaning = rule(document, "public_cleaning")  # fixed 3 分, recorded by the clerk
    cleaning["id"] = rule_id
    cleaning["category"] = category
    return document


def test_chinese_category_and_rule_id_record_with_a_stable_code(
    db: Database, settings: Settings
) -> None:
    world = make_world(db, settings, _document("LY-01", "党建引领"))
    record = world.record("LY-01", world.a1)
    assert (record.status, record.points, record.category) == ("approved", 3, "党建引领")
    # The first 12 hex digits of SHA-256("党建引领"), written out so that a change to the
    # derivation (which would split a village's books in two) fails here.
    assert world.entry(record.entry_id).entry.code == "cat_ad66a20d31e3_award"
    assert world.household_points(world.household_a) == 3


def test_a_chinese_rule_id_in_an_ascii_category_keeps_the_old_code(
    db: Database, settings: Settings
) -> None:
    world = make_world(db, settings, _document("党建_引领.1", "sanitation"))
    record = world.record("党建_引领.1", world.a1)
    assert world.entry(record.entry_id).entry.code == "sanitation_award"


def test_codes_of_existing_categories_do_not_change() -> None:
    assert charters.award_code("labor") == "labor_award"
    assert charters.deduction_code("sanitation") == "sanitation_deduction"
    assert charters.award_code("生态振兴") == charters.award_code("生态振兴")
    assert charters.award_code("生态振兴") != charters.award_code("党建引领")
    assert charters.deduction_code("Eco-1").startswith("cat_")


@pytest.mark.parametrize(
    ("rule_id", "category"),
    [
        ("LY 01", "党建引领"),  # a space
        ("-LY", "党建引领"),  # starts with a dash
        ("LY-01", "党建/引领"),  # a slash
        ("LY-01", "_党建"),  # starts with an underscore
        ("LY-01", "党" * 41),  # longer than 40
    ],
)
def test_other_characters_are_refused(
    db: Database, settings: Settings, rule_id: str, category: str
) -> None:
    with pytest.raises(CharterInvalidProblem):
        make_world(db, settings, _document(rule_id, category))
