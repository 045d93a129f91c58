"""Configuration: reference data files (and, later, settings from env / .env / secret files)."""
