from services.kit.cli import main

from .app import SERVICE

raise SystemExit(main(SERVICE))
