"""ragd: retrieval-augmented generation with verified citations.

Embedded on a laptop (SQLite + a shipped ONNX model) or multi-tenant on Kubernetes,
from the same code: every backend is an adapter behind a port (see ``ragd.ports``).
"""

__version__ = "0.1.0"
