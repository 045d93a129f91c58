"""A stand-in for kubectl in the rollout-script tests: the commands the scripts use, over a JSON state file.

Objects live in $FAKE_KUBE_STATE as {"kind/name": object}; every call is appended to "calls".
Rollouts are instantly complete: readyReplicas follows spec.replicas.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any


def _jsonpath(obj: Any, path: str) -> str:
    """The subset of kubectl's jsonpath the scripts use: {.a.b\\.c.d[0].e}."""
    keys = re.findall(r"(?:[^.\\\[\]]|\\.)+|\[\d+\]", path.strip("{}").lstrip("."))
    for key in keys:
        if key.startswith("["):
            obj = obj[int(key[1:-1])]
        else:
            obj = obj.get(key.replace("\\.", "."), "") if isinstance(obj, dict) else ""
    return "" if obj is None else str(obj)


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


def _json_patch(target: dict[str, Any], operations: list[dict[str, Any]]) -> None:
    for operation in operations:
        assert operation["op"] == "replace", operation
        *parents, last = [part.replace("~1", "/") for part in operation["path"].strip("/").split("/")]
        node: Any = target
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = operation["value"]
        else:
            node[last] = operation["value"]


def main(argv: list[str]) -> int:
    """Run one kubectl command against the state file."""
    state_path = Path(os.environ["FAKE_KUBE_STATE"])
    state = json.loads(state_path.read_text())
    args = list(argv)
    if "--namespace" in args:
        at = args.index("--namespace")
        del args[at : at + 2]
    state["calls"].append(args)
    verb = args[0]
    if verb == "get":
        obj = state["objects"][f"{args[1]}/{args[2]}"]
        print(_jsonpath(obj, args[args.index("-o") + 1].removeprefix("jsonpath=")), end="")
    elif verb == "patch":
        obj = state["objects"][f"{args[1]}/{args[2]}"]
        patch = json.loads(args[args.index("-p") + 1])
        (_json_patch if args[args.index("--type") + 1] == "json" else _merge)(obj, patch)
    elif verb == "scale":
        obj = state["objects"][args[1]]
        obj["spec"]["replicas"] = int(args[args.index("--replicas") + 1])
    elif verb == "set" and args[1] == "image":
        obj = state["objects"][args[2]]
        container, image = args[3].split("=", 1)
        spec = obj["spec"]["template"]["spec"]["containers"][0]
        assert spec["name"] == container, (spec["name"], container)
        spec["image"] = image
    elif verb == "rollout":
        pass
    else:
        print(f"fake kubectl: unsupported {args}", file=sys.stderr)
        return 2
    for obj in state["objects"].values():
        if "replicas" in obj.get("spec", {}):
            obj["status"] = {"readyReplicas": obj["spec"]["replicas"]}
    state_path.write_text(json.dumps(state))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
