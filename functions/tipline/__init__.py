"""Zalo Tipline: a confidential tip line and advisory channel on Zalo Official Accounts."""
