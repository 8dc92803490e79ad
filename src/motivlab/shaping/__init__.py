"""Interventions on motivation-space exploration (see shared/design/interventions.md)."""
