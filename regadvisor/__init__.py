"""regadvisor: regularization advice for PyTorch training runs, from evidence.

The public Python API lives in :mod:`regadvisor.api` (``diagnose``, ``probe``, ``check``).
"""

__version__ = "0.1.0"
