"""Helpers the tests share: the one job factory (``jobs``), S3 servers and proxies, worker and
webhook-receiver processes, a browser's checks. Test modules import from here or take fixtures from
``conftest.py``, never from each other.
"""
