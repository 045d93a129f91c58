"""The public gateway: REST (/api/v1), WebSocket (/ws), authentication, API keys, rate limits."""
