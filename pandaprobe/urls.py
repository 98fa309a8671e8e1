from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path, register_converter
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerSplitView

from pandaprobe.api import paths
from pandaprobe.api.views import HealthView
from pandaprobe.projects.api import MeView
from pandaprobe.projects.throttling import login_throttled

# Before the included URLconfs are read. The API's converters let a bad value through to the view,
# which answers 422 naming it (`pandaprobe/api/paths.py`).
register_converter(paths.UUIDConverter, "api_uuid")
register_converter(paths.SessionIdConverter, "session")
register_converter(paths.SessionPageConverter, "session_page")

urlpatterns = [
    # Before the admin's own URLs: its sign-in form, throttled like the pages' (`admin:login` still
    # reverses to this path).
    path("admin/login/", login_throttled(admin.site.login)),
    path("admin/", admin.site.urls),
    path("health", HealthView.as_view(), name="health"),
    path(
        "openapi.json",
        SpectacularJSONAPIView.as_view(permission_classes=[], authentication_classes=[]),
        name="openapi",
    ),
    path(
        "docs",
        SpectacularSwaggerSplitView.as_view(
            url_name="openapi", permission_classes=[], authentication_classes=[]
        ),
        name="docs",
    ),
    path("", RedirectView.as_view(pattern_name="trace-list"), name="home"),
    path("me", MeView.as_view(), name="api-me"),
    # Before the traces' routes, which would read `traces/analytics` as a trace id and
    # `sessions/analytics` as a session id.
    path("", include("analytics.operations_urls")),
    # Browsers ask for /favicon.ico whatever the page says; the icon is a static file.
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True), name="favicon"),
    path("", include("pandaprobe.traces.api.urls")),
    # Before "evaluations/": the analytics are their own app (it reads evaluations; nothing imports it).
    path("evaluations/analytics/", include("analytics.urls")),
    path("evaluations/", include("evaluations.api.urls")),
    # Before "app/": the analytics page belongs to analytics (nothing under evaluations imports it).
    path("app/analytics/", include("analytics.page_urls")),
    path("app/", include("evaluations.urls")),
]

# HTML under /app/ and /admin/, JSON everywhere else.
handler400 = "pandaprobe.views.bad_request"
handler403 = "pandaprobe.views.permission_denied"
handler404 = "pandaprobe.views.page_not_found"
handler500 = "pandaprobe.views.server_error"
