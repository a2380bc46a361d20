"""The RADIUS→Duo proxy: a UDP transport (server), the request pipeline (policy), clients and their secrets,
retransmission handling, the push guard, health and metrics."""
