"""The data lifecycle: retention of closed tips, legal holds, erasure of a citizen's data."""
