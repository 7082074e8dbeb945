"""Validates JSON messages against a JSON Schema (draft 2020-12) with the `jsonschema` package.

Usage: validate_messages.py SCHEMA MESSAGES.jsonl
One message per line. Prints one line per message (`ok` or the errors) and exits 1 if any is invalid.
"""
import json
import sys

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match


def main() -> int:
    schema_path, messages_path = sys.argv[1], sys.argv[2]
    with open(schema_path, encoding="utf-8") as handle:
        schema = json.load(handle)
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    invalid = 0
    with open(messages_path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            errors = sorted(validator.iter_errors(json.loads(line)), key=lambda e: list(e.absolute_path))
            if errors:
                invalid += 1
                # For oneOf/anyOf, the sub-error of the closest alternative says more than "not valid under any".
                deepest = [best_match(e.context) if e.context else e for e in errors]
                details = "; ".join(f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:300]}" for e in deepest)
                print(f"message {number}: INVALID: {details}")
                # Standard error reaches the test's failure message.
                print(f"message {number}: INVALID: {details}", file=sys.stderr)
            else:
                print(f"message {number}: ok")
    return 1 if invalid else 0


if __name__ == "__main__":
    sys.exit(main())
