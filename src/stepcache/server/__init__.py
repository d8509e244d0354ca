"""The OpenAI-compatible proxy: ``stepcache serve``.

    from stepcache import StepCache, OpenAIHTTPBackend
    from stepcache.server import ServerSettings, create_app, run

    cache = StepCache(OpenAIHTTPBackend("http://127.0.0.1:8080/v1"))
    run(cache, ServerSettings(port=8000))          # or: app = create_app(cache, settings)

    # several processes, each building its own cache with make_cache(**factory_kwargs):
    run_workers("mypkg.caches:make_cache", ServerSettings(port=8000), workers=2, factory_kwargs={...})

Needs the ``server`` extra (Starlette via FastAPI, uvicorn with uvloop and httptools).
"""

from ._app import create_app, run
from ._settings import ServerSettings
from ._workers import app_from_env, run_workers

__all__ = ["ServerSettings", "app_from_env", "create_app", "run", "run_workers"]
