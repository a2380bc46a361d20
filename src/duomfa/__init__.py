"""duomfa: Duo multi-factor authentication for AWS Directory Service."""

__version__ = "0.1.0"
