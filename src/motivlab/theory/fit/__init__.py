"""theory/fit"""
