"""Onion hardware sources. Only hw/gen/ is Python: the generators of what hw/ holds generated."""
