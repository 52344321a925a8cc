"""Helpers for the scripts around generation and testing.

Shared by tests/, benchmarks/, portal/ and the hooks themselves.
"""
