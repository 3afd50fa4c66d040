"""Synthetic payments traffic with labelled fraud, deterministic from a seed.

Legit customers follow their own habits (home country and timezone, devices, payees, shops,
amounts, salary days, trips); fraud episodes (card testing, account takeover, mule fan-in,
velocity abuse) stand out only by behaviour over several transactions. Labels are returned
next to each transaction and never travel inside it.

    generator = TrafficGenerator(GeneratorConfig(seed=7, fraud_share=0.02))
    for transaction, label in generator.generate(100_000): ...
"""

from streams.generator.config import GeneratorConfig
from streams.generator.engine import TrafficGenerator
from streams.generator.scenarios import SCENARIOS

__all__ = ["SCENARIOS", "GeneratorConfig", "TrafficGenerator"]
