"""Onion's board host: numpy only (pynq on the board). Never imports torch."""
