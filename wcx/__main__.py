"""`python -m wcx`: the same command line as the `wcx` console script."""

from wcx.cli import main

main()
