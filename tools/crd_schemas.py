"""Turn a CustomResourceDefinition's openAPIV3Schema into a strict JSON Schema file.

check-jsonschema validates our exported Argo Rollouts, Flagger and Gateway API
objects against these files (deploy/k8s-schemas/, SOURCE.md says where each
CRD came from). Two changes make the schema as strict as the API server, and
stricter where the projects leave objects open:

- `additionalProperties: false` on every object that lists its properties and
  does not say `x-kubernetes-preserve-unknown-fields`: the API server prunes
  unknown fields silently, so a typo such as `setWieght` would be dropped and
  the step lost; here it fails validation instead.
- `x-kubernetes-int-or-string` becomes `anyOf: [integer, string]`, `nullable`
  becomes a "null" type, and apiVersion/kind are pinned.

    python -m tools.crd_schemas CRD.yaml [CRD.yaml ...] --out deploy/k8s-schemas
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from src import atomic, exits


def tighten(node: Any) -> Any:
    """The schema with unknown fields closed, recursively."""
    if isinstance(node, list):
        return [tighten(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: tighten(v) for k, v in node.items()}
    if out.pop("x-kubernetes-int-or-string", False):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if out.pop("nullable", False) and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    open_ = out.get("x-kubernetes-preserve-unknown-fields", False)
    if "properties" in out and "additionalProperties" not in out and not open_:
        out["additionalProperties"] = False
    return out


def convert(crd: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{file name: JSON Schema} for every served version of one CRD."""
    group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
    schemas = {}
    for version in crd["spec"]["versions"]:
        if not version.get("served", True):
            continue
        schema = tighten(version["schema"]["openAPIV3Schema"])
        props = schema.setdefault("properties", {})
        props["apiVersion"] = {"const": f"{group}/{version['name']}"}
        props["kind"] = {"const": kind}
        schema["required"] = sorted(set(schema.get("required", [])) | {"apiVersion", "kind", "metadata"})
        schema["additionalProperties"] = False
        schema["$schema"] = "http://json-schema.org/draft-07/schema#"
        schema["title"] = f"{kind} {group}/{version['name']} (strict)"
        schemas[f"{group}/{kind.lower()}_{version['name']}.json"] = schema
    return schemas


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="CRD YAML -> strict JSON Schema files")
    parser.add_argument("crds", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--kinds", default="", help="comma-separated kinds to keep (default: all)")
    args = parser.parse_args(argv)
    keep = {k for k in args.kinds.split(",") if k}
    for path in args.crds:
        try:
            docs = list(yaml.safe_load_all(path.read_text()))
        except (OSError, yaml.YAMLError) as exc:
            return exits.refuse("crd_schemas", f"{path}: {exc}")
        for doc in docs:
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            if keep and doc["spec"]["names"]["kind"] not in keep:
                continue
            for name, schema in convert(doc).items():
                target = args.out / name
                atomic.write_text(target, json.dumps(schema, indent=1, sort_keys=True) + "\n")
                print(f"{target}")
    return exits.OK


if __name__ == "__main__":
    sys.exit(main())
