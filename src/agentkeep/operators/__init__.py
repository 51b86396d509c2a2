"""Operator reads: cross-user reports through the operator functions (docs/operators.md)."""
