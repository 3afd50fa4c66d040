"""Sinks: the ledger, the reporting store and notifications, each fed by its own consumer group."""
