"""Microsoft Teams end to end: the real client code against the fakes."""
