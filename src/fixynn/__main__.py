"""`python -m fixynn`: the `fixynn` command without relying on where pip put its script."""

from fixynn.cli import main

main()
