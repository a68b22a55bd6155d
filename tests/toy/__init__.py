"""A provider that is not built in, to show what adding one touches."""
