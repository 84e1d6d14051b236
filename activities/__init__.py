"""Activities: the engine's only I/O (notifications now; the ledger and projection later)."""
