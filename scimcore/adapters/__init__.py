"""Adapters: ways in and out of the core (CSV files; connectors later).

They depend on the core's protocols; nothing in the core imports them.
"""
