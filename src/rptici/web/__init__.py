"""The local web dashboard: pick a regimen, run a virtual trial, see and download the results.

``rptici serve`` starts it on 127.0.0.1; :func:`create_app` builds the FastAPI application (tests use it
directly). Limits per request are in :mod:`rptici.web.limits`.
"""

from __future__ import annotations

from .limits import WebLimits


def create_app(*args, **kwargs):
    """See :func:`rptici.web.app.create_app` (imported lazily: FastAPI is an optional dependency, ``web``)."""
    from .app import create_app as create

    return create(*args, **kwargs)


__all__ = ["WebLimits", "create_app"]
