"""Small helpers below every layer (no model knowledge)."""
