"""The embedded reference deployment: origin pods, a CDN edge, a canary, named faults.

- `data`: the deterministic demo log (db.jsonl, its .sha256, the demo signing key).
- `log`: one release's log in memory and every endpoint of the API (`Log.respond`).
- `origin`: the origin pod as a raw ASGI app; `edge` / `nginx`: the CDN edge.
- `faults`: the named faults, their documentation and the live `FaultSet`.
- `server`: several uvicorn servers in one asyncio loop; `admin`: faults at runtime.
- `stack`: wires it all (`start_stack`), `serve`: the `tlogcheck serve` command.
"""
