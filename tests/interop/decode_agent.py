#!/usr/bin/env python3
"""Decodes Jaeger Thrift batches with an implementation we did not write.

Input on stdin, one per line: `<kind> <hex bytes>`, kind being
  compact    an Agent.emitBatch datagram in the compact protocol (agent port 6831)
  binary     an Agent.emitBatch datagram in the binary protocol (agent port 6832)
  collector  a bare Batch struct in the binary protocol (HTTP collector body)
Output on stdout: one JSON object per input line.

Spans, processes and tags are read by jaeger-client-python's generated code
(`jaeger_client.thrift_gen`) on Apache Thrift's own protocols. That code predates
Batch.seqNo (field 3) and Batch.stats (field 4), so the Batch itself is read with the
thrift library's generic struct reader and a field table taken from jaeger.thrift.

JSON conventions: ids and integers as signed i64 (as on the wire); a double as the i64 of
its IEEE bits (exact); binary values as hex; a tag lists only the value fields that are set.
"""
import json
import struct
import sys

from thrift.Thrift import TMessageType, TType
from thrift.protocol import TBinaryProtocol, TCompactProtocol
from thrift.transport import TTransport

from jaeger_client.thrift_gen.agent import Agent
from jaeger_client.thrift_gen.jaeger import ttypes as jaeger


def keep_bytes(protocol_class):
    """The generated code reads Tag.vBinary with readString, which decodes UTF-8 strictly;
    keep the raw bytes when they are not UTF-8."""

    class KeepBytes(protocol_class):
        def readString(self):
            raw = self.readBinary()
            try:
                return raw.decode("utf-8")
            except UnicodeDecodeError:
                return raw

    return KeepBytes


Compact = keep_bytes(TCompactProtocol.TCompactProtocol)
Binary = keep_bytes(TBinaryProtocol.TBinaryProtocol)


class ClientStats(object):
    thrift_spec = (
        None,
        (1, TType.I64, "fullQueueDroppedSpans", None, None),
        (2, TType.I64, "tooLargeDroppedSpans", None, None),
        (3, TType.I64, "failedToEmitSpans", None, None),
    )

    def read(self, iprot):
        iprot.readStruct(self, self.thrift_spec)


class FullBatch(object):
    """jaeger.thrift's Batch with all four fields; spans and process use generated classes."""

    thrift_spec = (
        None,
        (1, TType.STRUCT, "process", (jaeger.Process, jaeger.Process.thrift_spec), None),
        (2, TType.LIST, "spans", (TType.STRUCT, (jaeger.Span, jaeger.Span.thrift_spec), False), None),
        (3, TType.I64, "seqNo", None, None),
        (4, TType.STRUCT, "stats", (ClientStats, ClientStats.thrift_spec), None),
    )

    def read(self, iprot):
        self.process = self.spans = self.seqNo = self.stats = None
        iprot.readStruct(self, self.thrift_spec)


class EmitBatchArgs(object):
    thrift_spec = (None, (1, TType.STRUCT, "batch", (FullBatch, FullBatch.thrift_spec), None))

    def read(self, iprot):
        self.batch = None
        iprot.readStruct(self, self.thrift_spec)


def as_bytes(v):
    return v.encode("utf-8") if isinstance(v, str) else v


def tag_json(t):
    out = {"key": t.key, "vType": t.vType}
    if t.vStr is not None:
        out["vStr"] = t.vStr
    if t.vDouble is not None:
        out["vDouble"] = struct.unpack("<q", struct.pack("<d", t.vDouble))[0]
    if t.vBool is not None:
        out["vBool"] = t.vBool
    if t.vLong is not None:
        out["vLong"] = t.vLong
    if t.vBinary is not None:
        out["vBinary"] = as_bytes(t.vBinary).hex()
    return out


def span_json(s):
    return {
        "traceIdLow": s.traceIdLow,
        "traceIdHigh": s.traceIdHigh,
        "spanId": s.spanId,
        "parentSpanId": s.parentSpanId,
        "operationName": s.operationName,
        "references": None if s.references is None else [
            {"refType": r.refType, "traceIdLow": r.traceIdLow, "traceIdHigh": r.traceIdHigh, "spanId": r.spanId}
            for r in s.references
        ],
        "flags": s.flags,
        "startTime": s.startTime,
        "duration": s.duration,
        "tags": None if s.tags is None else [tag_json(t) for t in s.tags],
        "logs": None if s.logs is None else [
            {"timestamp": l.timestamp, "fields": [tag_json(t) for t in l.fields]} for l in s.logs
        ],
    }


def batch_json(generated, full):
    """`generated` was read by jaeger-client's own Batch class, `full` by the generic reader."""
    return {
        "process": {
            "serviceName": generated.process.serviceName,
            "tags": None if generated.process.tags is None else [tag_json(t) for t in generated.process.tags],
        },
        "spans": [span_json(s) for s in generated.spans],
        "seqNo": full.seqNo,
        "stats": None if full.stats is None else [
            full.stats.fullQueueDroppedSpans,
            full.stats.tooLargeDroppedSpans,
            full.stats.failedToEmitSpans,
        ],
        "sameSpansInBoth": [span_json(s) for s in full.spans] == [span_json(s) for s in generated.spans],
    }


def decode(kind, data):
    proto = Compact if kind == "compact" else Binary
    if kind == "collector":
        generated = jaeger.Batch()
        generated.read(proto(TTransport.TMemoryBuffer(data)))
        full = FullBatch()
        trans = TTransport.TMemoryBuffer(data)
        full.read(proto(trans))
        out = batch_json(generated, full)
    else:
        trans = TTransport.TMemoryBuffer(data)
        iprot = proto(trans)
        name, mtype, seqid = iprot.readMessageBegin()
        args = Agent.emitBatch_args()
        args.read(iprot)
        iprot.readMessageEnd()
        trans2 = TTransport.TMemoryBuffer(data)
        iprot2 = proto(trans2)
        iprot2.readMessageBegin()
        full = EmitBatchArgs()
        full.read(iprot2)
        out = batch_json(args.batch, full.batch)
        out.update({"name": name, "type": {TMessageType.CALL: "CALL", TMessageType.ONEWAY: "ONEWAY"}.get(mtype, mtype), "seqid": seqid})
        trans = trans2
    # Everything must have been consumed.
    out["trailing"] = len(trans.read(1 << 20))
    return out


def main():
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        kind, hexdata = line.split(" ", 1)
        print(json.dumps(decode(kind, bytes.fromhex(hexdata))), flush=True)


if __name__ == "__main__":
    main()
