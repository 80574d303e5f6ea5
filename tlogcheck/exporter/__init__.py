"""`tlogcheck exporter`: continuous probes for Prometheus, blackbox-style.

Prometheus scrapes `/probe?target=URL&module=NAME`; the probe runs the module's checks
against the target with the suite's rules, within the scrape's timeout, and answers
Prometheus text. Over time it remembers each target's verified tree and proves every
new one extends it; across vantage points it compares its verified checkpoints with
its peers'. The parts:

- `config`: the config file (modules), checked at load, secrets kept out of sight;
- `targets`: URL normal form and the per-module allow-list of targets;
- `redact`: secrets scrubbed from every text the exporter sends out;
- `context`, `checks`, `tiles_checks`: the checks, thin adapters over the suite's rules
  in `tlogcheck.verify` (the same functions, no copies), each finding under its alert;
- `clients`: HTTP clients kept between probes, bounded;
- `probe`: one probe within its budget;
- `state`, `evidence`: the remembered trees and the bundles of a fork;
- `peers`: `/checkpoints` and the comparison with other exporters;
- `metrics`, `history`: what a probe answers, the exporter's own metrics, recent probes;
- `app`, `server`, `options`: the HTTP side, the process, its options.
"""
