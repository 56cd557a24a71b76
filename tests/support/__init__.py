"""Helpers shared by tests and benchmarks: vendor-like loopback servers, syncd processes,
configuration files and the end-to-end harness."""
