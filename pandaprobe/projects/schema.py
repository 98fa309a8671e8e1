"""How the three ways in (see authentication.py) appear in the OpenAPI document.

Names follow the reference document's security schemes; each way is one requirement whose headers
go together (AND), and an operation accepts any of the three (OR).
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


def _header(name: str) -> dict:
    return {"type": "apiKey", "in": "header", "name": name}


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "pandaprobe.projects.authentication.ApiKeyAuthentication"
    name = ["ApiKey", "ProjectName"]

    def get_security_definition(self, auto_schema):
        return [_header("X-API-Key"), _header("X-Project-Name")]


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "pandaprobe.projects.authentication.BearerTokenAuthentication"
    name = ["HTTPBearer", "ProjectID"]

    def get_security_definition(self, auto_schema):
        return [{"type": "http", "scheme": "bearer"}, _header("X-Project-ID")]


class BearerUserScheme(OpenApiAuthenticationExtension):
    """A Bearer token alone (`GET /me`): the user, in no project. It requires the `HTTPBearer` scheme
    that `BearerTokenScheme` defines, and defines none of its own: one name, one definition (a second
    definition of the same name is a drf-spectacular warning)."""

    target_class = "pandaprobe.projects.authentication.BearerUserAuthentication"
    name: list[str] = []

    def get_security_requirement(self, auto_schema):
        return {"HTTPBearer": []}

    def get_security_definition(self, auto_schema):
        return []


class SessionProjectScheme(OpenApiAuthenticationExtension):
    """The browser's session cookie; the project comes from X-Project-ID or the session itself."""

    target_class = "pandaprobe.projects.authentication.SessionProjectAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}
