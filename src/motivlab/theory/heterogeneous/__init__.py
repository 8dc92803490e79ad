"""theory/heterogeneous"""
