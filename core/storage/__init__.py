"""Storage: the metadata database (tables, sessions, migrations), the jobs queue and outage
handling.

Every process loads it: web replicas, job workers and the command line. It imports nothing else of
``core`` but ``core.settings``.
"""
