"""Benchmarks (`make bench`): side by side in one run, ratios printed, JSON written to bench/results/."""
