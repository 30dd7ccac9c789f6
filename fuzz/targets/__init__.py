"""One module per fuzz target; each exposes HARNESS, imported lazily by fuzz.registry."""
