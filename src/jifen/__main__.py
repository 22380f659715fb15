"""`python -m jifen` is the `jifen` command."""

from jifen.cli import app

app(prog_name="jifen")
