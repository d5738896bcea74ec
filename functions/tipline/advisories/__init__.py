"""Scheduled advisories: warnings sent to the followers of the targeted OAs, within Zalo's rules."""
