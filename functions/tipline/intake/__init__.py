"""Webhook intake: verified Zalo events become encrypted tips."""
