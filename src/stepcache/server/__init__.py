"""The OpenAI-compatible proxy: ``stepcache serve``.

    from stepcache import StepCache, OpenAIHTTPBackend
    from stepcache.server import ServerSettings, create_app, run

    cache = StepCache(OpenAIHTTPBackend("http://127.0.0.1:8080/v1"))
    run(cache, ServerSettings(port=8000))          # or: app = create_app(cache, settings)

Needs the ``server`` extra (FastAPI + uvicorn).
"""

from ._app import create_app, run
from ._settings import ServerSettings

__all__ = ["ServerSettings", "create_app", "run"]
