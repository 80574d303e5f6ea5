"""The TLog ops playbook as data, where every part can read it.

- `alerts`: the playbook's own words — §1 alerts, §2 routine, §3 scenarios, §5
  checklists, §6 notice and §8 RCA labels, in Korean and English;
- `checks`: each check of the suite, its alert, section and next diagnostic step.
"""

from __future__ import annotations

from tlogcheck.playbook.alerts import (
    ALERTS,
    CHECKLISTS,
    LANGS,
    NOTICE_LABELS,
    RCA_LABELS,
    ROUTINE,
    SCENARIOS,
    Alert,
    Scenario,
    Text,
    alert_named,
)

__all__ = [
    "ALERTS",
    "CHECKLISTS",
    "LANGS",
    "NOTICE_LABELS",
    "RCA_LABELS",
    "ROUTINE",
    "SCENARIOS",
    "Alert",
    "Scenario",
    "Text",
    "alert_named",
]
