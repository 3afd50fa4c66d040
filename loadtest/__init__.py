"""Load generation and benchmarks for paystream (Locust scenarios, state-store benchmark)."""
