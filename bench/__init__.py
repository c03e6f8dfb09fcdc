"""Benchmark scripts that print the figures the issues ask for (not part of the app package)."""
