"""The function host process: pools of execution environments, limits, logs, the Runtime API."""
