"""Rule types: the plugin protocol, the built-in types, and the registry that finds them
through the `jifen.rules` entry-point group (the built-in types are registered the same
way as anyone else's)."""
