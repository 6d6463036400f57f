"""Pure batched torch simulators (no gymnasium import)."""
