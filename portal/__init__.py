"""The non-interactive interface for portals: generate.py and the questions' schema."""
