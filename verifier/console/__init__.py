"""The web console under /ui/ (docs/console.md): accounts and sessions (accounts.py), the pages
(app.py) with their templates and static files, charts drawn on the server (charts.py), the two
languages (i18n.py). Importing this package loads nothing heavy: the CLI uses accounts.py."""
