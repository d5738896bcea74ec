"""Adapters: the only code that touches boto3 or httpx."""
