"""`python -m lgsp.cli`: the `lgsp` command, for a process started without the installed script."""

from lgsp.cli import main

main()
