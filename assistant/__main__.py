"""`python -m assistant ...` — see assistant/cli.py."""

from assistant.cli import main

raise SystemExit(main())
