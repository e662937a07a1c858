"""The API's request parser."""

from __future__ import annotations

import json
from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """DRF's, except that two kinds of bad JSON are a 400 like any other.

    A body of a thousand nested brackets (2 KB) made ``json.loads`` raise
    RecursionError, which DRF does not catch: a 500. A lone UTF-16 surrogate
    (``"\\ud800"``) is valid JSON but no Unicode text: saved, it made every
    page showing it fail to encode.
    """

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
            json.dumps(data, ensure_ascii=False).encode()
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None
        except UnicodeEncodeError:
            raise ParseError("JSON parse error - a lone surrogate is not text.") from None
        return data
