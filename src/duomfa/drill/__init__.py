"""`duomfa drill`: exercises on this machine that show the system's promises hold (a rotation with no failed login)."""
