"""A demo township to explore the API with: seeded by `jifen seed-demo`."""
