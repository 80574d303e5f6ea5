"""tlogcheck: the TLog ops playbook's checks as a pytest suite, with an Argo Rollouts gate."""

from __future__ import annotations

__version__ = "0.1.0"
