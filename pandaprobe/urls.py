from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from pandaprobe.api.views import HealthView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("health", HealthView.as_view(), name="health"),
    path(
        "openapi.json",
        SpectacularAPIView.as_view(permission_classes=[], authentication_classes=[]),
        name="openapi",
    ),
    path(
        "docs",
        SpectacularSwaggerView.as_view(url_name="openapi", permission_classes=[], authentication_classes=[]),
        name="docs",
    ),
    path("", include("pandaprobe.traces.api.urls")),
    path("evaluations/", include("evaluations.api.urls")),
]

handler404 = "pandaprobe.api.errors.json_not_found"
handler500 = "pandaprobe.api.errors.json_server_error"
