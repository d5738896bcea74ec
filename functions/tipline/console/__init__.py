"""The officer console: units work their own tips; the provincial command sees all units."""
