"""Kudos: recognition shout-outs, company values and fair-play limits."""
