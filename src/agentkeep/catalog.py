"""Shared pieces of the catalog services (agents, personas): who may write them."""

from __future__ import annotations

from agentkeep.principal import Principal

SERVICE = Principal.service()
"""The default principal of SDK catalog calls: trusted backend code."""
