"""Neutral messages and views to Block Kit."""
