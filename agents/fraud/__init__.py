"""Fraud detection: features, scoring, thresholds, training and evaluation (pure, no I/O clients)."""
