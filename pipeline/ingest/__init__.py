"""Stage 1, ingest: from a feeds file to article rows.

``feeds`` (and ``opml``) read the registry, ``schedule`` says which feeds are due, ``fetch``
gets their bytes (``decoding`` bounds compressed bodies), ``parse`` turns them into entries,
``identity`` tells entries apart across fetches, ``language`` and ``duplicates`` annotate
each article, and ``stage`` runs it all against the database.
"""
