"""HTTP plumbing shared by every router: the unit of work, idempotency, dependencies."""
