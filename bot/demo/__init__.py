"""`empathy-bot demo`: the whole product in simulated weeks, one scene per feature (`run.py` drives them)."""
