"""Trust earned from outcomes (seed 002): levels L0-L4 per (user, agent), their history, and the
trust metrics recorded as decisions get feedback (docs/trust.md)."""
