"""A Duo-compatible MFA service: Duo Auth API v2 over HTTPS with Duo's request signing, backed by SQLite.

For local use, trials, tests and small labs; the proxy talks to it exactly as it talks to Duo's cloud.
"""
