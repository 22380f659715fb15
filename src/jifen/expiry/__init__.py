"""Points expiry and year-end clearing, as each village's charter says; applied by `jifen tick`."""
