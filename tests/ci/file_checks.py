"""Validators of the ci/ files that are neither Kubernetes manifests nor checked by an
outside tool: the VS Code tasks (JSON with comments) and the CDN invalidation scripts.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

# The playbook's §7 tasks, by label: the file must keep them.
PLAYBOOK_TASKS = ("lumen:ops:quick-health", "lumen:ops:purge-cdn")
GATE_VARIABLES = ("TLOG_ROLLOUT", "TLOG_NAMESPACE", "TLOG_CHECK", "TLOG_ALERT", "TLOG_RELEASE")


def strip_jsonc(text: str) -> str:
    """JSON with comments as VS Code reads it, less the comments (strings kept whole)."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i : j + 1])
            i = j + 1
        elif text.startswith("//", i):
            while i < n and text[i] != "\n":
                i += 1
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def load_jsonc(path: Path) -> Any:
    return json.loads(strip_jsonc(path.read_text(encoding="utf-8")))


def vscode_tasks_errors(path: Path) -> list[str]:
    """tasks.json 2.0.0: every task labelled, typed and with a command; labels unique;
    every ${input:x} declared; the playbook's two tasks present."""
    try:
        doc = load_jsonc(path)
    except ValueError as exc:
        return [f"{path.name}: not JSON with comments: {exc}"]
    errors = []
    if doc.get("version") != "2.0.0":
        errors.append(f"{path.name}: version {doc.get('version')!r}, expected '2.0.0'")
    tasks = doc.get("tasks")
    if not isinstance(tasks, list) or not tasks:
        return errors + [f"{path.name}: no tasks"]
    inputs = {i.get("id") for i in doc.get("inputs", []) if isinstance(i, dict)}
    labels: list[str] = []
    for n, task in enumerate(tasks):
        label = task.get("label")
        if not isinstance(label, str) or not label:
            errors.append(f"{path.name}: task {n} has no label")
            continue
        labels.append(label)
        if task.get("type") not in ("shell", "process"):
            errors.append(f"{path.name}: {label}: type {task.get('type')!r}")
        command = task.get("command")
        if not isinstance(command, str) or not command.strip():
            errors.append(f"{path.name}: {label}: no command")
            continue
        for ref in re.findall(r"\$\{input:([^}]+)\}", command):
            if ref not in inputs:
                errors.append(f"{path.name}: {label}: ${{input:{ref}}} is not in inputs")
    dupes = {x for x in labels if labels.count(x) > 1}
    if dupes:
        errors.append(f"{path.name}: labels used twice: {sorted(dupes)}")
    for label in PLAYBOOK_TASKS:
        if label not in labels:
            errors.append(f"{path.name}: the playbook's task {label!r} is missing")
    for inp in doc.get("inputs", []):
        if inp.get("type") == "pickString" and not inp.get("options"):
            errors.append(f"{path.name}: input {inp.get('id')}: pickString without options")
    return errors


def shell_script_errors(path: Path) -> list[str]:
    """A POSIX sh script: shebang, executable, `sh -n` clean, `set -eu`, and it reads
    what the gate's hook sets."""
    text = path.read_text(encoding="utf-8")
    errors = []
    if not text.startswith("#!/bin/sh\n"):
        errors.append(f"{path.name}: does not start with #!/bin/sh")
    if not os.access(path, os.X_OK):
        errors.append(f"{path.name}: not executable")
    done = subprocess.run(["sh", "-n", str(path)], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        errors.append(f"{path.name}: sh -n: {done.stderr.strip()}")
    if "\nset -eu\n" not in text:
        errors.append(f"{path.name}: no `set -eu`: a failing step would be reported as success")
    if not any(v in text for v in GATE_VARIABLES):
        errors.append(
            f"{path.name}: reads none of the gate's variables ({', '.join(GATE_VARIABLES)})"
        )
    return errors
