"""The web UI served by ragd itself at ``/`` (see ``ragd.api.ui.mount``)."""

from ragd.api.ui.mount import install

__all__ = ["install"]
