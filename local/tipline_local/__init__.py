"""Development tooling: the local stack, the Zalo simulator, ops commands. Never part of a Lambda package."""
