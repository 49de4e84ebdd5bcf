"""`python -m baoling.host_tools` is the `baoling` command (for tests and a venv not on PATH)."""

from baoling.host_tools.cli import main

main()
