"""The product's URLs plus ``GET /api/v1/ping/``, served only by the bench's gunicorn."""

from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.urls import urlpatterns as product_urlpatterns


class PingView(APIView):
    """The trivial authenticated DRF endpoint: the API key is checked, nothing else is done."""

    def get(self, request: Request) -> Response:
        return Response({"pong": True})


urlpatterns = [path("api/v1/ping/", PingView.as_view(), name="bench-ping"), *product_urlpatterns]
