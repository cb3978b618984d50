"""Benchmarks print figures; they never assert. Targets are judged by a reader, not by CI timing."""
