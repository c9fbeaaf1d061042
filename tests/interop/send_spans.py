#!/usr/bin/env python3
"""Sends spans to a UDP agent address with jaeger-client-python's own Tracer and Reporter
(compact protocol, as to port 6831): the other interop direction.

Usage: send_spans.py <host> <port>. Prints one JSON line describing what was sent.
"""
import json
import sys
import time

import opentracing
from jaeger_client import Config


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    config = Config(
        config={
            "sampler": {"type": "const", "param": 1},
            "local_agent": {"reporting_host": host, "reporting_port": port},
            "logging": False,
            "tags": {"interop.tag": "py"},
        },
        service_name="python-interop",
        validate=True,
    )
    tracer = config.new_tracer()
    with tracer.start_span("parent") as parent:
        parent.set_tag("http.status_code", 200)
        parent.set_tag("error", True)
        parent.set_tag("ratio", 0.25)
        parent.log_kv({"event": "started", "attempt": 1})
        with tracer.start_span("child", child_of=parent) as child:
            child.set_tag("peer.service", "db")
    ctx = parent.context
    with tracer.start_span("follower", references=opentracing.follows_from(ctx)) as follower:
        pass
    # close() flushes the reporter's queue on its IO loop thread and returns a tornado
    # (asyncio) Future bound to this thread's loop, which is not running: its callbacks never
    # fire here and it has no blocking result(), so poll done() with a deadline.
    closed = tracer.close()
    deadline = time.monotonic() + 10
    while not closed.done():
        if time.monotonic() > deadline:
            sys.exit("the reporter did not flush within 10 s")
        time.sleep(0.01)
    print(json.dumps({
        "trace_id": ctx.trace_id,
        "parent_span_id": ctx.span_id,
        "child_span_id": child.context.span_id,
        "follower_span_id": follower.context.span_id,
    }), flush=True)


if __name__ == "__main__":
    main()
