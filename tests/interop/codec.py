#!/usr/bin/env python3
"""jaeger-client-python's TextCodec as a propagation peer for tests/interop/propagation.rs.

Uses `jaeger_client.codecs.TextCodec(url_encoding=True)`, the HTTP-headers mode, or with
`"url_encoding": false` in the request the text-map mode (values verbatim).

stdin, one JSON object with any of:
  "url_encoding": bool (default true)
  "inject":  {"trace_id": hex, "span_id": hex, "parent_id": hex, "flags": int,
              "baggage": {str: str}, "debug_id": str | null}
             -> Python builds that SpanContext and injects it into a dict of headers;
  "extract": {header: value}
             -> Python extracts a SpanContext from those headers.
stdout, one JSON object:
  "injected":      {header: value}                      (when asked to inject)
  "extracted":     null | {"trace_id": hex, "span_id": hex, "parent_id": hex,
                           "flags": int | null, "baggage": {..}, "debug_id": str | null}
  "extract_error": null | "ExceptionName: message"      (when asked to extract)
Ids travel as lower-case hex strings so that no JSON number loses precision.
"""

import json
import sys

from jaeger_client.codecs import TextCodec
from jaeger_client.span_context import SpanContext


def hex_or_zero(n):
    return format(n or 0, "x")


def build(ctx):
    return SpanContext(
        trace_id=int(ctx["trace_id"], 16),
        span_id=int(ctx["span_id"], 16),
        parent_id=int(ctx.get("parent_id", "0"), 16) or None,
        flags=int(ctx.get("flags", 0)),
        baggage=dict(ctx.get("baggage") or {}),
        debug_id=ctx.get("debug_id"),
    )


def describe(ctx):
    if ctx is None:
        return None
    return {
        "trace_id": hex_or_zero(ctx.trace_id),
        "span_id": hex_or_zero(ctx.span_id),
        "parent_id": hex_or_zero(ctx.parent_id),
        "flags": ctx.flags,
        "baggage": dict(ctx.baggage or {}),
        "debug_id": ctx.debug_id,
    }


def main():
    request = json.load(sys.stdin)
    codec = TextCodec(url_encoding=request.get("url_encoding", True))
    out = {}
    if "inject" in request:
        carrier = {}
        codec.inject(build(request["inject"]), carrier)
        out["injected"] = carrier
    if "extract" in request:
        try:
            out["extracted"] = describe(codec.extract(dict(request["extract"])))
            out["extract_error"] = None
        except Exception as e:  # the codec's own exceptions are the result under test
            out["extracted"] = None
            out["extract_error"] = "%s: %s" % (type(e).__name__, e)
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
