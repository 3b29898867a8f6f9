"""CORS for the embedded widget: pages on WIDGET_ORIGINS may call /api/chat and load /static/ (fonts)."""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from channels.settings import Settings, get_settings

WIDGET_PATHS = ("/api/chat", "/static/")


class WidgetCors:
    """Starlette's CORSMiddleware on the widget's paths only, with origins from the settings.

    The settings are read at the first request (as the routes do, honouring `app.dependency_overrides`), so
    the app can be built before they exist. Staff pages and the sync API never answer other origins. Added
    after the other middleware, it is the outermost: refusals such as 413 carry the headers too, so the widget
    can read them.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._cors: tuple[tuple[str, ...], ASGIApp] | None = None

    def _for(self, settings: Settings) -> ASGIApp:
        origins = tuple(settings.embed_origins)
        if self._cors is None or self._cors[0] != origins:
            cors = CORSMiddleware(
                self.app,
                allow_origins=list(origins),
                allow_methods=["GET", "POST"],
                allow_headers=["Content-Type", "Accept"],
                expose_headers=["Retry-After"],
                max_age=600,
            )
            self._cors = (origins, cors)
        return self._cors[1]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith(WIDGET_PATHS):
            await self.app(scope, receive, send)
            return
        app = scope.get("app")
        overrides = getattr(app, "dependency_overrides", {})
        settings = overrides.get(get_settings, get_settings)()
        await self._for(settings)(scope, receive, send)
