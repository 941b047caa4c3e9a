"""Production promotion, plain Python: copying a partition's published objects from staging to production."""
