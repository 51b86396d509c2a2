"""Users' AI provider API keys (seed 003), sealed by the vault."""
