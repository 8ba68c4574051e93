"""Renderers of real documents (PDF, Word, spreadsheets) from known cells, for round-trip tests."""
