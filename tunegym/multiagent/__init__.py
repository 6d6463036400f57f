"""Multi-agent (PettingZoo) versions of tunegym families; import a module to use it:
``from tunegym.multiagent import coverage_v0``."""
