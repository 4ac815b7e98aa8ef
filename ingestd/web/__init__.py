"""The agents' desk: a server-rendered web application (Starlette, Jinja2, htmx) over
`ingestd.casework`. `create_app(services)` builds it; `serve` runs it with uvicorn."""

from ingestd.web.app import create_app
from ingestd.web.server import Background, serve

__all__ = ["Background", "create_app", "serve"]
