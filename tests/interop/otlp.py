#!/usr/bin/env python3
"""OTLP trace requests with the official Python classes (PyPI opentelemetry-proto, on the
protobuf runtime): an implementation we did not write, to build requests our receiver
decodes and to decode requests our exporter sends.

Usage:
  otlp.py build [--hex-ids] < request.json > request.bin
  otlp.py decode [--hex-ids] < request.bin > request.json

build
  Reads one JSON object on stdin: an ExportTraceServiceRequest in the protobuf JSON
  mapping (google.protobuf.json_format.ParseDict; field names as in the .proto, e.g.
  "resource_spans", "start_time_unix_nano"; enums by name or number; int64/fixed64 as
  numbers or decimal strings; bytes as base64). With --hex-ids, the id fields trace_id,
  span_id and parent_span_id (of spans and links) are hex strings instead of base64, as in
  OTLP/JSON. Unknown fields are an error. Writes the binary protobuf to stdout.

decode
  Reads one binary ExportTraceServiceRequest on stdin (gzip-compressed input, told by its
  magic bytes 1f 8b, is gunzipped first: a request never starts with 0x1f) and prints
  one line of JSON (keys sorted):
      json_format.MessageToDict(request, preserving_proto_field_name=True)
  That is the protobuf JSON mapping:
    - field names as in the .proto (snake_case): resource_spans, scope_spans, spans,
      trace_id, parent_span_id, start_time_unix_nano, attributes, key, value,
      string_value, int_value, kvlist_value, ...;
    - fields with their default value (0, "", empty list, unset message) are left out,
      so a root span has no "parent_span_id" and an UNSET status no "code";
    - enums as their names: "kind": "SPAN_KIND_SERVER", "code": "STATUS_CODE_ERROR";
    - int64, uint64, fixed64 (times, int_value) as decimal strings; int32/uint32/fixed32
      (flags, dropped_*_count) as numbers; doubles as numbers;
    - bytes (ids, bytes_value) as standard base64, or, with --hex-ids, the id fields as
      lower-case hex (bytes_value stays base64);
    - unknown fields (a newer proto than this package) are dropped.
  A body that does not parse: a message on stderr, exit status 1.

Versions are pinned in requirements.txt (opentelemetry-proto 1.45.2, protobuf 6.33.6).
"""
import base64
import gzip
import json
import sys

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

ID_FIELDS = ("trace_id", "span_id", "parent_span_id")


def each_id_holder(request):
    """The span and link dicts of a request dict (those that hold id fields)."""
    for rs in request.get("resource_spans", []):
        for ss in rs.get("scope_spans", []):
            for span in ss.get("spans", []):
                yield span
                yield from span.get("links", [])


def convert_ids(request, convert):
    for holder in each_id_holder(request):
        for field in ID_FIELDS:
            if field in holder:
                holder[field] = convert(holder[field])


def build(args):
    request = json.load(sys.stdin)
    if "--hex-ids" in args:
        convert_ids(request, lambda h: base64.b64encode(bytes.fromhex(h)).decode())
    message = json_format.ParseDict(request, ExportTraceServiceRequest())
    sys.stdout.buffer.write(message.SerializeToString())


def decode(args):
    body = sys.stdin.buffer.read()
    if body[:2] == b"\x1f\x8b":
        body = gzip.decompress(body)
    message = ExportTraceServiceRequest()
    try:
        message.ParseFromString(body)
    except Exception as e:  # protobuf raises DecodeError, and others on odd input
        print(f"otlp.py decode: not an ExportTraceServiceRequest ({len(body)} bytes): {e}", file=sys.stderr)
        sys.exit(1)
    out = json_format.MessageToDict(message, preserving_proto_field_name=True)
    if "--hex-ids" in args:
        convert_ids(out, lambda b: base64.b64decode(b).hex())
    print(json.dumps(out, sort_keys=True))


def main():
    commands = {"build": build, "decode": decode}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    commands[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
