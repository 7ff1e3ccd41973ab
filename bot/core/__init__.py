"""The kernel every feature stands on: settings, database, models and identity, people, crypto, clock, errors, logs."""
