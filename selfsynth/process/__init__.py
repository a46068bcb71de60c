"""Process plumbing: signals and one FAILED line, worker pools, checks before work, resuming, ranks."""
