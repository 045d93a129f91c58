"""`python -m wcx.healthcheck`: the container health check (stdlib only, so it starts in milliseconds).

Exit 0 when `/healthz` answers 200 on API_PORT (roles all, gateway, engine, wallet) or ADMIN_PORT
(role admin) on the loopback interface, 1 otherwise.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def healthy(ports: list[str], timeout: float = 2.0) -> bool:
    """Whether any of `ports` answers `GET /healthz` with 200 on 127.0.0.1."""
    for port in dict.fromkeys(ports):
        try:
            url = f"http://127.0.0.1:{int(port)}/healthz"  # always plain HTTP to the loopback interface
            with urllib.request.urlopen(url, timeout=timeout) as response:  # nosec B310
                if response.status == 200:
                    return True
        except (OSError, ValueError, urllib.error.URLError):
            continue
    return False


def main() -> int:
    """Probe the ports from the environment (the image's defaults: 8080 and 8081)."""
    return 0 if healthy([os.environ.get("API_PORT", "8080"), os.environ.get("ADMIN_PORT", "8081")]) else 1


if __name__ == "__main__":
    sys.exit(main())
