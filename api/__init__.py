"""The analysts' API and console: reads the sinks' stores and account state, acts only by publishing.

Imports streams/ (the contracts) and its own modules, never agents/ or sinks/.
"""
