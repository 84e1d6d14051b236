"""Activities: the engine's only I/O — notifications, compensation through the ledger and payments
provider, and the event-store projection (store/)."""
