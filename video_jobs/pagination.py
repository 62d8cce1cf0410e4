from rest_framework.pagination import PageNumberPagination


class JobPagination(PageNumberPagination):
    """``?page=N``; clients may ask for smaller or larger pages with ``?page_size=`` (at most 200)."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
