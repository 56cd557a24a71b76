"""Helpers shared by tests and benchmarks: loopback servers that behave like vendors."""
