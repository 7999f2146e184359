"""Embedded services for the local stack and the tests: PostgreSQL, Redis, Weaviate.

Each launcher starts a real server process on loopback, waits until it answers, and stops it
(``stop()``), leaving no stray process behind.
"""
