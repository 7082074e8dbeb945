#!/bin/bash
# Fails the way a broken hook does: garbage on stderr (including its own secret) and exit 7.
printf 'garbage \x01\x02 from hook; token=%s\n' "$HOOK_SECRET_TOKEN" >&2
exit 7
