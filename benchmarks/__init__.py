"""Benchmarks of agentkeep's hot paths against the physical floor and langchain-postgres."""
