"""A rule type from another distribution: installed for real with pip, found through the
`jifen.rules` entry points, validated and scored like a built-in — and gone again after."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from jifen.charters.document import CharterInvalid, compile_charter
from jifen.charters.rules import registry
from jifen.charters.rules.protocol import Occurrence

PLUGIN_SOURCE = Path(__file__).resolve().parents[2] / "examples" / "jifen-rule-recycling"
PLUGIN_MODULE = "jifen_rule_recycling"
BUILTIN_TYPES = {"fixed", "per_unit", "tiered", "deduction", "board"}


def _purge_plugin(site: str) -> None:
    while site in sys.path:
        sys.path.remove(site)
    for name in [n for n in sys.modules if n == PLUGIN_MODULE or n.startswith(PLUGIN_MODULE + ".")]:
        del sys.modules[name]
    registry.refresh()


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The plugin pip-installed into a directory of its own, on sys.path for this module."""
    work = tmp_path_factory.mktemp("plugin")
    # Build from a copy: an in-tree build leaves build/ and *.egg-info in the source folder.
    source = work / "source"
    shutil.copytree(
        PLUGIN_SOURCE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__")
    )
    site = str(work / "site")
    command = [
        sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
        "--no-index", "--disable-pip-version-check", "--quiet", "--target", site, str(source),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    sys.path.insert(0, site)
    registry.refresh()
    try:
        yield site
    finally:
        _purge_plugin(site)


def _charter(params: dict[str, Any]) -> dict[str, Any]:
    return {
        "title": "测试村规",
        "effective_on": "2026-01-01",
        "rules": [
            {
                "id": "recycle_cardboard",
                "category": "waste_sorting",
                "label": "回收纸皮",
                "type": "recyclables",
                "params": params,
            }
        ],
    }


CARDBOARD = {"material": "纸皮", "points_per_kg": "0.5", "minimum_kg": "2", "rounding": "down"}


def test_the_installed_plugin_is_a_rule_type_beside_the_builtins(plugin_site: str) -> None:
    types = registry.rule_types()
    assert set(types) == BUILTIN_TYPES | {"recyclables"}
    assert types["recyclables"].label == "废品回收换积分"
    # Imported from where pip put it, not from the source folder.
    assert Path(sys.modules[PLUGIN_MODULE].__file__ or "").is_relative_to(plugin_site)


@pytest.mark.parametrize(
    ("params", "weight_kg", "points", "explanation"),
    [
        (
            CARDBOARD,
            "12.5",
            6,
            "回收纸皮 12.5 公斤 × 0.5 分/公斤 = 6.25 分，舍去小数计 6 分",
        ),
        (CARDBOARD, "2", 1, "回收纸皮 2 公斤 × 0.5 分/公斤 = 1 分"),
        (CARDBOARD, "1.5", 0, "回收纸皮 1.5 公斤，未满 2 公斤，不计分"),
        (
            {"material": "废旧金属", "points_per_kg": "1.5", "rounding": "half_up"},
            "3",
            5,
            "回收废旧金属 3 公斤 × 1.5 分/公斤 = 4.5 分，四舍五入计 5 分",
        ),
    ],
)
def test_a_charter_rule_of_the_plugin_type_scores_by_weight(
    plugin_site: str, params: dict[str, Any], weight_kg: str, points: int, explanation: str
) -> None:
    charter = compile_charter(_charter(params))
    rule = charter.rule("recycle_cardboard")
    assert rule is not None
    assert not rule.is_deduction
    score = rule.rule_type.evaluate(
        rule.params, Occurrence("回收纸皮", Decimal(weight_kg), date(2026, 3, 5))
    )
    assert (score.points, score.explanation) == (points, explanation)


def test_a_negative_weight_is_refused(plugin_site: str) -> None:
    rule = compile_charter(_charter(CARDBOARD)).rule("recycle_cardboard")
    assert rule is not None
    with pytest.raises(ValueError, match="negative"):
        rule.rule_type.evaluate(rule.params, Occurrence("回收纸皮", Decimal(-1), date(2026, 3, 5)))


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({**CARDBOARD, "points_per_kg": "0"}, "rules[0].params.points_per_kg"),
        ({**CARDBOARD, "rounding": "ceiling"}, "rules[0].params.rounding"),
        ({**CARDBOARD, "per_kg": "1"}, "rules[0].params.per_kg"),
        ({"points_per_kg": "1"}, "rules[0].params.material"),
    ],
)
def test_bad_plugin_params_name_their_field(
    plugin_site: str, params: dict[str, Any], field: str
) -> None:
    with pytest.raises(CharterInvalid) as raised:
        compile_charter(_charter(params))
    assert [error.field for error in raised.value.errors] == [field]


def test_once_removed_the_plugin_type_is_unknown(plugin_site: str) -> None:
    """Last in the module: removes the install as the fixture's teardown does (which then
    finds nothing left to do) and checks that nothing of the plugin stays behind."""
    _purge_plugin(plugin_site)
    assert set(registry.rule_types()) == BUILTIN_TYPES
    assert PLUGIN_MODULE not in sys.modules
    with pytest.raises(CharterInvalid) as raised:
        compile_charter(_charter(CARDBOARD))
    assert [error.field for error in raised.value.errors] == ["rules[0].type"]
