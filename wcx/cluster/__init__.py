"""Scale-out and high availability: the command log on NATS JetStream, hot-standby engine nodes with
a fenced leader lease, and the command port gateways use to reach the leader."""

from wcx.cluster.node import DeposedError, EngineNode
from wcx.cluster.port import ClusterPort, ClusterRejectedError, ClusterUnavailableError
from wcx.cluster.settings import ClusterSettings, load_cluster_settings

__all__ = [
    "ClusterPort",
    "ClusterRejectedError",
    "ClusterSettings",
    "ClusterUnavailableError",
    "DeposedError",
    "EngineNode",
    "load_cluster_settings",
]
