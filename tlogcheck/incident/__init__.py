"""Respond and report: triage, evidence, the notice, the RCA and the checklists."""
