"""``GET /api/v1/me/export/``: the logged-in person's data as JSON-LD (session auth, not API keys)."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from marketplace.api.query_params import KnownQueryParams
from marketplace.privacy import export_user_data


class JSONLDRenderer(JSONRenderer):
    media_type = "application/ld+json"
    format = "jsonld"


class PersonSessionAuthentication(SessionAuthentication):
    """The web session of a person; without one the answer is 401, as for a missing key."""

    def authenticate_header(self, request: Request) -> str:
        return 'Session realm="intentcast"'


class PersonSessionAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = PersonSessionAuthentication
    name = "cookieAuth"

    def get_security_definition(self, auto_schema: object) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": settings.SESSION_COOKIE_NAME,
            "description": "The web session of a logged-in person.",
        }


class MyDataExportView(KnownQueryParams, APIView):
    """Everything you created or received, as one schema.org JSON-LD document.

    For the logged-in person (their web session); an API key is not a person.
    """

    authentication_classes = [PersonSessionAuthentication]
    permission_classes = [IsAuthenticated]
    renderer_classes = [JSONLDRenderer, JSONRenderer]

    @extend_schema(
        responses={
            (200, "application/ld+json"): OpenApiResponse(
                response=OpenApiTypes.OBJECT, description="A JSON-LD document (schema.org)."
            )
        },
    )
    def get(self, request: Request) -> Response:
        document = export_user_data(request.user)
        return Response(
            document,
            headers={"Content-Disposition": 'attachment; filename="intentcast-my-data.jsonld"'},
        )
