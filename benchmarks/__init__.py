"""Scripts that print figures; a package so that ``benchmarks/http.py`` is ``benchmarks.http`` to mypy, not the
standard library's ``http``."""
