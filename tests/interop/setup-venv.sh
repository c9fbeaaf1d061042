#!/bin/sh
# Creates <repo>/.venv with jaeger-client-python, Apache Thrift's Python library and the
# official OTLP protobuf classes (opentelemetry-proto): implementations we did not write,
# used by the interop tests. Run from anywhere.
set -eu
repo=$(cd "$(dirname "$0")/../.." && pwd)
python3 -m venv "$repo/.venv"
"$repo/.venv/bin/pip" install --quiet -r "$repo/tests/interop/requirements.txt"
echo "interop venv ready: $repo/.venv"
