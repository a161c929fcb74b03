"""Reading the stories back: ``queries`` for the CLI and the HTTP API, ``api`` (FastAPI) and
the dashboard in ``web/``."""
