"""Offline validation of deploy/k8s (see ./validate)."""
import json
import pathlib
import sys

import jsonschema
import kubernetes_validate
import yaml

root = pathlib.Path(sys.argv[1])
keda_schemas = json.loads((root / "schemas" / "keda.json").read_text())
failures = []
checked = 0

for path in sorted(root.rglob("*.yaml")):
    documents = [d for d in yaml.safe_load_all(path.read_text()) if d]
    if path.name == "kustomization.yaml":
        for document in documents:
            for resource in document.get("resources", []):
                if not (path.parent / resource).exists():
                    failures.append(f"{path}: resource {resource} does not exist")
        continue
    for document in documents:
        name = f"{path.relative_to(root)}: {document.get('kind')}/{document.get('metadata', {}).get('name')}"
        checked += 1
        try:
            if document.get("apiVersion", "").startswith("keda.sh/"):
                jsonschema.validate(document, keda_schemas[document["kind"]])
            else:
                kubernetes_validate.validate(document, kubernetes_validate.latest_version(), strict=True)
        except (jsonschema.ValidationError, kubernetes_validate.ValidationError) as error:
            failures.append(f"{name}: {error.message if hasattr(error, 'message') else error}")
        except KeyError:
            failures.append(f"{name}: no schema for {document.get('kind')}")
        for container in document.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
            if "memory" not in container.get("resources", {}).get("limits", {}):
                failures.append(f"{name}: container {container['name']} has no memory limit")

for failure in failures:
    print(failure)
print(f"k8s manifests: {checked} checked, {len(failures)} failed")
sys.exit(1 if failures else 0)
