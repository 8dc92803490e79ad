"""Bridges to other tools (TRL) so experiments designed here run at scale."""
