"""`python -m nvgw_nb` runs the `nvgw-nb` command line."""

from nvgw_nb.cli import main

raise SystemExit(main())
