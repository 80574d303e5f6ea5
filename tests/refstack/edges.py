"""The two edges a module runs behind: the builtin one, and nginx where it is installed
(skipped with the reason elsewhere)."""

from __future__ import annotations

import pytest

from tlogcheck.refstack.nginx import nginx_available

EDGES = [
    "builtin",
    pytest.param(
        "nginx",
        marks=pytest.mark.skipif(
            nginx_available() is None, reason="nginx is not installed (apt-get install nginx)"
        ),
    ),
]
