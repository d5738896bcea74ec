"""Stores of the domain table, one per group of item types, over one generic DynamoDB gateway."""
