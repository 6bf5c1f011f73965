#!/usr/bin/env bash
# Nothing to stop: the quota client test runs its broker in-process.
exit 0
