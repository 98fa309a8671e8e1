from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path, re_path, register_converter
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerSplitView

from pandaprobe import views
from pandaprobe.api import paths
from pandaprobe.api.views import HealthView
from pandaprobe.projects.access import project_page
from pandaprobe.projects.api import MeView
from pandaprobe.projects.throttling import login_throttled

# Before the included URLconfs are read. The API's converters let a bad value through to the view,
# which answers 422 naming it (`pandaprobe/api/paths.py`).
register_converter(paths.UUIDConverter, "api_uuid")
register_converter(paths.SessionIdConverter, "session")
register_converter(paths.SessionPageConverter, "session_page")

from evaluations.urls import project_urlpatterns as evaluation_pages  # noqa: E402
from evaluations.views.pages import moved_page  # noqa: E402

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
    path("", moved_page, {"rest": "traces/"}, name="home"),
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
    # A project's pages: the project is part of the URL, so a link opens the same page for whoever
    # may see it (`project_page`). The analytics page belongs to analytics (nothing under
    # evaluations imports it). Any other path under a project, or a malformed id in one (a route's
    # `uuid` does not match it), is the pages' own 404, never Django's technical one.
    path("app/p/<str:project_id>/analytics/", include("analytics.page_urls")),
    path("app/p/<str:project_id>/", include(evaluation_pages)),
    re_path(r"^app/p/(?P<project_id>[^/]+)/", project_page(views.no_such_page)),
    path("app/", include("evaluations.urls")),
]

# HTML under /app/ and /admin/, JSON everywhere else.
handler400 = "pandaprobe.views.bad_request"
handler403 = "pandaprobe.views.permission_denied"
handler404 = "pandaprobe.views.page_not_found"
handler500 = "pandaprobe.views.server_error"
