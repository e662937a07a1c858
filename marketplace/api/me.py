"""``GET /api/v1/me/export/``: the logged-in person's data as JSON-LD (session auth, not API keys)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from marketplace.privacy import export_user_data


class JSONLDRenderer(JSONRenderer):
    media_type = "application/ld+json"
    format = "jsonld"


class PersonSessionAuthentication(SessionAuthentication):
    """The web session of a person; without one the answer is 401, as for a missing key."""

    def authenticate_header(self, request: Request) -> str:
        return 'Session realm="intentcast"'


class MyDataExportView(APIView):
    """Everything you created or received, as one schema.org JSON-LD document.

    For the logged-in person (their web session); an API key is not a person.
    """

    authentication_classes = [PersonSessionAuthentication]
    permission_classes = [IsAuthenticated]
    renderer_classes = [JSONLDRenderer, JSONRenderer]

    @extend_schema(
        auth=[{"cookieAuth": []}],
        responses={200: OpenApiResponse(description="A JSON-LD document (schema.org).")},
    )
    def get(self, request: Request) -> Response:
        document = export_user_data(request.user)
        return Response(
            document,
            headers={"Content-Disposition": 'attachment; filename="intentcast-my-data.jsonld"'},
        )
