"""The states and kinds of accounts, as enums (stored as their plain values).

Pure: the rules, the models, the schemas, the pages and the templates all use these names.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What an account may do (``User.role``)."""

    ADMIN = "admin"  # manages users, images, projects and exports
    READER = "reader"  # reads the studies and images assigned to them


class PriorLayout(StrEnum):
    """How the reading screen shows a woman's prior exam, where a project shows priors (a user
    preference; key O)."""

    OFF = "off"  # hidden
    CC = "cc"  # each CC beside its prior
    MLO = "mlo"  # each MLO beside its prior
    EIGHT = "eight"  # all eight views: current above, prior below


class Hanging(StrEnum):
    """How the reading screen hangs a four-view study (a user preference)."""

    GRID = "grid"  # 2x2: CCs above MLOs
    ROW = "row"  # 1x4: R-CC L-CC R-MLO L-MLO, each filling the height
    CC = "cc"  # the CC pair only
    MLO = "mlo"  # the MLO pair only
