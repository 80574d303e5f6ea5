"""Incident work after an alert: triage (playbook §1/§2/§3) and evidence bundles."""
