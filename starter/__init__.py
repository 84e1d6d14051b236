"""Ways in: the `recovery` CLI, the local dev stack, and (later) the HTTP intake."""
