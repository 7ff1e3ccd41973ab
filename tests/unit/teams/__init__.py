"""Unit tests of the Microsoft Teams modules."""
