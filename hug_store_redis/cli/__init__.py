"""Tooling around the library: the console script, session admin, bench, demo, embedded server.

The library never imports this package.
"""
