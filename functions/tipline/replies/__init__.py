"""Replies to citizens: queued here, delivered by the sender through the Zalo OA API."""
