"""What a run leaves for other tools: Prometheus metrics and the alert rules on them,
JUnit properties, the CI step summary. Everything is made from the run's JSON report
(`tlogcheck.plugin.report.build`), so the facts are gathered once."""
