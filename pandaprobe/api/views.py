from django.db import connection
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from pandaprobe.settings import SPECTACULAR_SETTINGS


class HealthView(APIView):
    """Liveness and database reachability; public."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(operation_id="health_check", responses={200: dict}, tags=["health"])
    def get(self, request):
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return Response({"status": "ok", "version": SPECTACULAR_SETTINGS["VERSION"]})
