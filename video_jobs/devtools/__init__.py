"""Development helpers, outside the service's runtime path: real videos made with PyAV for the tests, the
benchmarks and the README's demo (``manage.py make_test_video``). Nothing at run time imports this package.
"""
