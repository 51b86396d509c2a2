"""Profiles: the products agentkeep serves, as configurations of one engine (docs/profiles.md)."""

from __future__ import annotations

from agentkeep.profiles.loader import SHIPPED, LoadedProfile, ProfileError, load_profile
from agentkeep.profiles.model import Profile

__all__ = ["SHIPPED", "LoadedProfile", "Profile", "ProfileError", "load_profile"]
