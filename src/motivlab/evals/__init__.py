"""Self-reported motivation against behaviour: protocol, task data, backends, analysis."""
