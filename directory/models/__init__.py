"""SQLAlchemy 2 models, one module per aggregate."""

from directory.models.base import Base
from directory.models.centers import Center, CenterAttribute

__all__ = ["Base", "Center", "CenterAttribute"]
