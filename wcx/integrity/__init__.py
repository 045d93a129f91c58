"""Data integrity and disaster recovery: `wcx verify`, backups at a known seq, restores (point in time).

Its own context because it spans the journal (the source of truth) and the SQL projection.
"""
