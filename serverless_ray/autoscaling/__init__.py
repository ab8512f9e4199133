"""Scaling: the platform sets each endpoint's replica count on Serve itself.

The entry points know every endpoint's in-flight count the moment it changes, so the
platform decides replica counts (``policy``) and applies them through Serve's external
scaler API (``scaler``) instead of waiting for Serve's periodic metrics.
"""
