"""`GET /me`: the profile of a Bearer token's user."""

from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from .authentication import BearerUserAuthentication


class IsSignedInUser(BasePermission):
    """A user, not a project's API key: an API key acts for a project and has no profile."""

    def has_permission(self, request, view) -> bool:
        # OPTIONS tells only the URL's methods (`Allow`), nothing of a user.
        if request.user.is_authenticated or request.method == "OPTIONS":
            return True
        if "HTTP_X_API_KEY" in request.META:
            raise exceptions.NotAuthenticated(
                "GET /me describes a user; an API key belongs to a project, not a user. "
                "Send Authorization: Bearer <personal access token>."
            )
        raise exceptions.NotAuthenticated("Send Authorization: Bearer <personal access token>.")


class UserProfileResponseSerializer(serializers.Serializer):
    """Current authenticated user profile."""

    id = serializers.CharField(source="pk", help_text="The user's id")
    email = serializers.CharField()
    display_name = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField(source="date_joined")
    last_sign_in_at = serializers.DateTimeField(source="last_login", allow_null=True)

    def get_display_name(self, user) -> str:
        return user.get_full_name() or user.get_username()


class MeView(APIView):
    authentication_classes = [BearerUserAuthentication]
    permission_classes = [IsSignedInUser]

    @extend_schema(operation_id="get_me", responses=UserProfileResponseSerializer, tags=["me"])
    def get(self, request):
        return Response(UserProfileResponseSerializer(request.user).data)
