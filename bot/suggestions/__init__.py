"""The anonymous suggestion box: submit, owners' statuses, the two-way anonymous thread."""
