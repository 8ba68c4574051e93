"""Helpers the tests share: servers, an in-memory broker, pipeline tools, faulty parsers."""
