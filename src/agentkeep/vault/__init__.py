"""The vault: per-user data keys wrapped by a master key, and the one encryption primitive
(AES-256-GCM) every encrypted column uses (docs/vault.md)."""
