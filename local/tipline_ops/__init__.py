"""tipline-ops: the operations command line for a deployed stack (docs/operations.md has the runbooks)."""
