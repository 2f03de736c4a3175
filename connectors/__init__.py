"""One module or package per provider; `connector_class(type)` imports only the one a source needs.

Importing lazily keeps `nhitui --help` fast: boto3 alone costs a few hundred milliseconds.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

TYPES = ("github", "gitlab", "aws", "npm", "dockerhub", "jfrog", "gcp", "azure", "kubernetes", "vault")


def connector_class(source_type: str) -> Any:
    """The connector class of a source type (the module's `CONNECTOR`, else its *Connector class)."""
    if source_type not in TYPES:
        raise ValueError(f"unknown source type {source_type!r}")
    module = importlib.import_module(f"connectors.{source_type}")
    explicit = getattr(module, "CONNECTOR", None)
    if explicit is not None:
        return explicit
    for name, obj in vars(module).items():
        if inspect.isclass(obj) and name.endswith("Connector") and obj.__module__ == module.__name__:
            return obj
    raise ImportError(f"connectors.{source_type} defines no connector class")
