"""Finds rule types through the `jifen.rules` entry-point group.

The built-in types are entry points of the jifen distribution itself, so a plugin
package is found exactly as they are. The registry is read once and cached;
`refresh()` reads it again (after installing a plugin into a running process).
"""

from __future__ import annotations

import logging
import threading
from importlib.metadata import entry_points
from typing import Final

from jifen.charters.rules.protocol import RuleType

GROUP: Final = "jifen.rules"

log = logging.getLogger(__name__)

_lock = threading.Lock()
_types: dict[str, RuleType] | None = None


def _load() -> dict[str, RuleType]:
    found: dict[str, RuleType] = {}
    for entry_point in entry_points(group=GROUP):
        if entry_point.name in found:
            log.warning("rule type %r is registered twice; keeping the first", entry_point.name)
            continue
        try:
            loaded = entry_point.load()
            rule_type = loaded() if isinstance(loaded, type) else loaded
        except Exception:  # a broken plugin must not take the service down
            log.exception("rule type %r could not be loaded", entry_point.name)
            continue
        if not isinstance(rule_type, RuleType):
            log.error("rule type %r does not follow the RuleType protocol", entry_point.name)
            continue
        found[entry_point.name] = rule_type
    return found


def rule_types() -> dict[str, RuleType]:
    global _types
    with _lock:
        if _types is None:
            _types = _load()
        return _types


def find(name: str) -> RuleType | None:
    return rule_types().get(name)


def refresh() -> dict[str, RuleType]:
    global _types
    with _lock:
        _types = None
    return rule_types()
