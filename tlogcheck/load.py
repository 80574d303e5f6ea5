"""(filled in by its issue)"""

from __future__ import annotations

import pytest

from tlogcheck.options import Option

OPTIONS: list[Option] = []


def configure(config: pytest.Config) -> None:
    del config
