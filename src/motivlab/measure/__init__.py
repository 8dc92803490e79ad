"""Measuring motivation: monitors, per-env p / sR / sL (exact and sampled), directions."""
