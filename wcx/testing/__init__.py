"""Fakes and builders for tests and benchmarks; production code never imports this package."""
