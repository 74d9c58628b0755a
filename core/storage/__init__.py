"""Storage: the metadata database (tables, sessions, migrations), the jobs queue and outage
handling.

Every process loads it: web replicas, job workers and the command line. Of ``core`` it imports only
the base modules and ``core.reading`` (the document record it stores).
"""
