"""Production promotion: copying a partition's checked staging outputs and rows to production."""
