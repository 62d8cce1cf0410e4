from __future__ import annotations

import re
from typing import Any

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.views import APIView


class JobPagination(PageNumberPagination):
    """``?page=N``; clients may ask for smaller or larger pages with ``?page_size=`` (at most 200).

    Stricter than DRF's, so that the API accepts what its schema says and nothing else: a ``page_size`` that
    is not a positive integer is refused (400) rather than quietly replaced by the default, and neither
    ``page=last`` nor an empty ``page=`` is a page. A page past the last (or not a positive integer) answers
    404, as DRF's does.
    """

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    last_page_strings = ()

    def get_page_number(self, request: Request, paginator: Any) -> Any:
        # DRF reads an empty ?page= as page 1; here it is what it is, not a page number (404).
        return request.query_params.get(self.page_query_param, 1)

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        digits = raw.lstrip("0")
        if re.fullmatch(r"[1-9][0-9]*", digits) is None:
            raise ValidationError({self.page_size_query_param: ["Must be a positive integer."]})
        # Any number of digits: int() refuses more than 4300, and a size that long is only "the most".
        return self.max_page_size if len(digits) > 9 else min(int(digits), self.max_page_size)

    def get_schema_operation_parameters(self, view: APIView) -> list[dict[str, Any]]:
        parameters: list[dict[str, Any]] = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["minimum"] = 1
            if parameter["name"] == self.page_size_query_param:
                parameter["description"] = f"Results per page (default {self.page_size}; more than "
                f"{self.max_page_size} counts as {self.max_page_size})."
        return parameters
