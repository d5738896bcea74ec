"""The OA token lifecycle: sealed storage, lease-guarded single-use refresh, refresh before expiry."""
