"""Readers of binary document formats: bytes in, `worker.core.document.Extracted` out."""
