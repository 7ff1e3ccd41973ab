"""The organisation: the org CSV import and the sync with the chat platform's directory."""
