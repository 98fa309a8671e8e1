import uuid

from django.db import connection
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from pandaprobe.settings import SPECTACULAR_SETTINGS

from .paths import ApiView, InvalidPathValue


class HealthView(APIView):
    """Liveness and database reachability; public."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(operation_id="health_check", responses={200: dict}, tags=["health"])
    def get(self, request):
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return Response({"status": "ok", "version": SPECTACULAR_SETTINGS["VERSION"]})


class SharedRouteView(ApiView):
    """One URL whose methods take different ids, as in the reference API: GET
    `/evaluations/session-scores/{id}` reads a session's scores, PATCH and DELETE on it change one score.

    This view serves its own methods, and hands `delegated_methods` to `delegate` (a view class) when
    the path id can be the delegate's (a UUID), renamed to `delegate_kwarg`. For any other id those
    methods are not allowed (405), since no score can have it. `Allow` (on OPTIONS, 405 and every
    answer) lists exactly the methods the URL accepts. The OpenAPI document describes the delegate's
    methods at a never-matched URL pattern of its own, so each method's id has its own name there.
    """

    delegate: type[APIView]
    delegated_methods: tuple[str, ...] = ("PATCH", "DELETE")
    delegate_kwarg: str

    def _path_id(self):
        (path_id,) = self.kwargs.values()
        return path_id

    def delegates(self) -> bool:
        """Whether the delegate answers: the path id can name what it serves (a score id is a UUID),
        or it is malformed for every method (an `InvalidPathValue`), which the delegate then reports
        as a 422 naming its own parameter."""
        path_id = self._path_id()
        if isinstance(path_id, InvalidPathValue):
            return True
        try:
            uuid.UUID(str(path_id))
        except ValueError:
            return False
        return True

    def route_methods(self) -> str:
        """The URL's methods (`allowed_methods` stays this view's own: drf-spectacular documents those)."""
        own = set(self.allowed_methods)
        delegated = set(self.delegated_methods) if self.delegates() else set()
        return ", ".join(m.upper() for m in self.http_method_names if m.upper() in own | delegated)

    @property
    def default_response_headers(self) -> dict:
        return {**super().default_response_headers, "Allow": self.route_methods()}

    def dispatch(self, request, *args, **kwargs):
        if request.method not in self.delegated_methods or not self.delegates():
            return super().dispatch(request, *args, **kwargs)
        response = self.delegate.as_view()(request, **{self.delegate_kwarg: self._path_id()})
        response["Allow"] = self.route_methods()
        return response
