"""Ways in: the `recovery` CLI, the HTTP API (intake, webhooks, agents' steps), the local dev stack,
the demo and the codec server."""
