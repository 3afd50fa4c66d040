"""paystream: the composition root and command line."""
