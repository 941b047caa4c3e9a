"""A code location for the run launcher's tests: one job whose op reports its process and can be held."""
