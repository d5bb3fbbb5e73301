"""``python -m connector.app.cli``."""

from connector.app.cli import main

main()
