"""`python -m dialer` runs the CLI (the `dialer` command) without a second copy of dialer.cli."""

from dialer.cli import main

main()
