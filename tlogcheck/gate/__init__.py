"""The rollout gate: abort (and undo) the Argo Rollout when a gated test fails.

`kube` talks to the Kubernetes API, `argo` decides what to send to the Rollout,
`plugin` wires the gate into pytest, `demo` shows it against a stand-in cluster.
"""
