"""Learning agents (bandits, contextual bandits, search agents, SB3 glue)."""
