# nats-server with JetStream for the cluster tests (tests start their own servers on free ports).
if ! command -v nats-server >/dev/null 2>&1 && [ ! -x /usr/sbin/nats-server ]; then
    apt-get update -qq && apt-get install -y -qq nats-server
fi
