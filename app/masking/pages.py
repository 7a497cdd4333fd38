"""Masking pages: project list, creation, the admin's project page, the comparison screen."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["masking pages"], include_in_schema=False)
