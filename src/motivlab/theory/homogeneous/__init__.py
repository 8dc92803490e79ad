"""theory/homogeneous"""
