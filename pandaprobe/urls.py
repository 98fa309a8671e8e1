from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerView

from pandaprobe.api.views import HealthView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("health", HealthView.as_view(), name="health"),
    path(
        "openapi.json",
        SpectacularJSONAPIView.as_view(permission_classes=[], authentication_classes=[]),
        name="openapi",
    ),
    path(
        "docs",
        SpectacularSwaggerView.as_view(url_name="openapi", permission_classes=[], authentication_classes=[]),
        name="docs",
    ),
    path("", RedirectView.as_view(pattern_name="trace-list"), name="home"),
    path("", include("pandaprobe.traces.api.urls")),
    path("evaluations/", include("evaluations.api.urls")),
    path("app/", include("evaluations.urls")),
]

handler404 = "evaluations.views.pages.page_not_found"  # HTML under /app/, JSON elsewhere
handler500 = "evaluations.views.pages.server_error"  # HTML under /app/, JSON elsewhere
