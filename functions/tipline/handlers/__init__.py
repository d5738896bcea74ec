"""Lambda entry points: wire Powertools, parse, call one logic function."""
