"""Simulated traders: seeded order flow for the demo, development liquidity and benchmarks."""
