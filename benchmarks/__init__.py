"""Measurements that are not pass/fail tests."""
