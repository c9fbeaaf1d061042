#![cfg(feature = "receiver")]
//! The public decoder and the UDP receiver, fed with bytes we did not produce with our own
//! encoder: jaeger-idl structs as Apache Thrift's own library encodes them, and binary
//! messages assembled here field by field from the protocol's rules (Apache Thrift's
//! `doc/specs/thrift-binary-protocol.md`; jaeger-idl `thrift/jaeger.thrift`, `agent.thrift`).

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use jaeger_layer::receiver::{decode_batch, decode_datagram, Receiver};
use jaeger_layer::{TagValue, TraceId};

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace().map(|b| u8::from_str_radix(b, 16).unwrap()).collect()
}

/// Vector 105: emitBatch(Batch{Process "svc", [span 103], seqNo 1, stats {0,0,0}}), seqid 1.
fn vector_105() -> Vec<u8> {
    hex("82 21 01 09 65 6d 69 74 42 61 74 63 68 1c 1c 18 03 73 76 63 19 0c 00 19 1c \
         16 02 16 00 16 04 16 00 18 02 6f 70 19 0c 15 02 16 80 89 7a 16 0a 19 0c 19 0c 00 \
         16 02 1c 16 00 16 00 16 00 00 00 00")
}

/// A binary-protocol writer built from the spec: type byte + big-endian i16 id per field.
#[derive(Default)]
struct Bin(Vec<u8>);

impl Bin {
    fn field(&mut self, ty: u8, id: i16) -> &mut Self {
        self.0.push(ty);
        self.0.extend_from_slice(&id.to_be_bytes());
        self
    }
    fn i64(&mut self, id: i16, v: i64) -> &mut Self {
        self.field(10, id);
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn i32(&mut self, id: i16, v: i32) -> &mut Self {
        self.field(8, id);
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn str(&mut self, id: i16, s: &[u8]) -> &mut Self {
        self.field(11, id);
        self.0.extend_from_slice(&(s.len() as i32).to_be_bytes());
        self.0.extend_from_slice(s);
        self
    }
    fn list(&mut self, id: i16, n: i32) -> &mut Self {
        self.field(15, id);
        self.0.push(12);
        self.0.extend_from_slice(&n.to_be_bytes());
        self
    }
    fn stop(&mut self) -> &mut Self {
        self.0.push(0);
        self
    }
}

/// A binary `Batch` of service "bin" with one span (ids with the sign bit set, a 128-bit
/// trace id, a FOLLOWS_FROM reference, a bool tag, a log) and, if `seq_no`, seqNo and stats.
fn binary_batch(seq_no: bool) -> Vec<u8> {
    let mut b = Bin::default();
    b.field(12, 1).str(1, b"bin").list(2, 0).stop(); // process
    b.list(2, 1); // spans
    b.i64(1, -2).i64(2, 7).i64(3, i64::MIN).i64(4, 5).str(5, b"binary-op");
    b.list(6, 1).i32(1, 1).i64(2, 3).i64(3, 4).i64(4, 6).stop();
    b.i32(7, 3).i64(8, 1_000_000).i64(9, 42);
    b.list(10, 1).str(1, b"error").i32(2, 2).field(2, 5);
    b.0.push(1);
    b.stop();
    b.list(11, 1).i64(1, 1_000_001).list(2, 1).str(1, b"event").i32(2, 0).str(3, b"x").stop().stop();
    b.stop(); // span
    if seq_no {
        b.i64(3, 9).field(12, 4).i64(1, 1).i64(2, 2).i64(3, 3).stop();
    }
    b.stop(); // batch
    b.0
}

/// Wraps a binary batch into a strict binary `emitBatch` CALL message.
fn binary_datagram(seqid: i32) -> Vec<u8> {
    let mut m = vec![0x80, 0x01, 0x00, 0x01];
    m.extend_from_slice(&9i32.to_be_bytes());
    m.extend_from_slice(b"emitBatch");
    m.extend_from_slice(&seqid.to_be_bytes());
    m.extend_from_slice(&[12, 0, 1]);
    m.extend_from_slice(&binary_batch(true));
    m.push(0);
    m
}

#[test]
fn decodes_the_apache_thrift_compact_vector() {
    let batch = decode_datagram(&vector_105()).unwrap();
    assert_eq!(batch.message_seqid, Some(1));
    assert_eq!(batch.seq_no, Some(1));
    let stats = batch.stats.unwrap();
    assert_eq!(
        (stats.full_queue_dropped_spans, stats.too_large_dropped_spans, stats.failed_to_emit_spans),
        (0, 0, 0)
    );
    assert_eq!(batch.process.service_name, "svc");
    assert!(batch.process.tags.is_empty());
    let s = &batch.spans[0];
    assert_eq!(batch.spans.len(), 1);
    assert_eq!((s.trace_id, s.span_id, s.parent_id), (TraceId::new(0, 1), 2, 0));
    assert_eq!((s.operation_name.as_str(), s.flags), ("op", 1));
    assert_eq!((s.start_time_us, s.duration_us), (1_000_000, 5));
    assert!(s.references.is_empty() && s.tags.is_empty() && s.logs.is_empty());
    assert_eq!(s.service_name, "svc");
}

#[test]
fn accepts_oneway_as_well_as_call() {
    let mut oneway = vector_105();
    oneway[1] = 0x81;
    assert_eq!(decode_datagram(&oneway).unwrap().spans.len(), 1);
    let mut reply = vector_105();
    reply[1] = 0x41; // REPLY is not something an agent receives
    assert!(decode_datagram(&reply).is_err());
}

#[test]
fn decodes_binary_datagrams_and_collector_bodies() {
    let batch = decode_datagram(&binary_datagram(77)).unwrap();
    assert_eq!(batch.message_seqid, Some(77));
    assert_eq!(batch.seq_no, Some(9));
    let stats = batch.stats.unwrap();
    assert_eq!(
        (stats.full_queue_dropped_spans, stats.too_large_dropped_spans, stats.failed_to_emit_spans),
        (1, 2, 3)
    );
    let s = &batch.spans[0];
    assert_eq!(s.trace_id, TraceId::new(7, u64::MAX - 1));
    assert_eq!(s.span_id, 1 << 63);
    assert_eq!(s.parent_id, 5);
    assert_eq!(s.operation_name, "binary-op");
    assert_eq!(s.flags, 3);
    assert_eq!(s.references.len(), 1);
    assert_eq!(s.references[0].ref_type, jaeger_layer::RefType::FollowsFrom);
    assert_eq!(s.references[0].trace_id, TraceId::new(4, 3));
    assert_eq!(s.references[0].span_id, 6);
    assert_eq!(s.tag("error"), Some(&TagValue::Bool(true)));
    assert_eq!(s.logs[0].timestamp_us, 1_000_001);
    assert_eq!(s.logs[0].fields[0].key, "event");
    assert_eq!(s.logs[0].fields[0].value, TagValue::String("x".into()));
    assert_eq!(s.service_name, "bin");

    let body = decode_batch(&binary_batch(false)).unwrap();
    assert_eq!((body.message_seqid, body.seq_no, body.stats), (None, None, None));
    assert_eq!(body.spans, {
        let mut spans = batch.spans.clone();
        spans[0].service_name = "bin".into();
        spans
    });
    // A bare batch is not a datagram, and the other way round.
    assert!(decode_datagram(&binary_batch(false)).is_err());
    assert!(decode_batch(&binary_datagram(1)).is_err());
}

#[test]
fn every_truncation_and_trailing_garbage_is_an_error() {
    for data in [vector_105(), binary_datagram(1)] {
        for len in 0..data.len() {
            assert!(decode_datagram(&data[..len]).is_err(), "prefix of {len} bytes decoded");
        }
        let mut longer = data.clone();
        longer.push(0);
        let err = decode_datagram(&longer).unwrap_err();
        assert!(err.to_string().contains("1 trailing bytes"), "{err}");
    }
}

#[test]
fn random_corruption_never_panics() {
    let mut state = 0x1234_5678_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut decoded = 0;
    for base in [vector_105(), binary_datagram(1)] {
        for _ in 0..20_000 {
            let mut data = base.clone();
            for _ in 0..1 + next() % 4 {
                let i = (next() % data.len() as u64) as usize;
                data[i] = next() as u8;
            }
            if decode_datagram(&data).is_ok() {
                decoded += 1;
            }
            let _ = decode_batch(&data);
        }
    }
    // Most single-byte changes inside values still decode; the point is that none panicked.
    assert!(decoded > 0);
}

#[test]
fn hostile_lengths_and_nesting_are_errors() {
    // A string length of 2^31-1 in a 20-byte datagram.
    let mut huge_string = vector_105()[..13].to_vec();
    huge_string.extend_from_slice(&hex("1c 1c 18 ff ff ff ff 07"));
    assert!(decode_datagram(&huge_string).is_err());
    // A span list claiming 2^31-1 elements.
    let mut huge_list = vector_105()[..23].to_vec();
    huge_list.extend_from_slice(&hex("19 fc ff ff ff ff 07"));
    assert!(decode_datagram(&huge_list).is_err());
    // An unknown struct field nested 10,000 deep (skipped, so only the depth limit stops it).
    let mut deep = vector_105()[..13].to_vec();
    deep.extend(std::iter::repeat_n(0x2c, 10_000)); // field id +2, type struct
    assert!(decode_datagram(&deep).is_err());
}

#[test]
fn non_utf8_strings_are_decoded_lossily() {
    let mut data = vector_105();
    let op = data.windows(2).position(|w| w == b"op").unwrap();
    data[op] = 0xff;
    data[op + 1] = 0xfe;
    let batch = decode_datagram(&data).unwrap();
    assert_eq!(batch.spans[0].operation_name, "\u{fffd}\u{fffd}");
}

#[test]
fn structural_errors_are_reported() {
    let mut name = vector_105();
    name[4] = b'E'; // "EmitBatch"
    assert!(decode_datagram(&name).unwrap_err().to_string().contains("unexpected method"));
    // The span without operationName (field 5): references become delta 2 from field 4.
    let without_op = hex("82 21 01 09 65 6d 69 74 42 61 74 63 68 1c 1c 18 03 73 76 63 19 0c 00 19 1c \
         16 02 16 00 16 04 16 00 29 0c 15 02 16 80 89 7a 16 0a 19 0c 19 0c 00 \
         16 02 1c 16 00 16 00 16 00 00 00 00");
    let err = decode_datagram(&without_op).unwrap_err();
    assert!(err.to_string().contains("operationName"), "{err}");
    assert!(decode_datagram(&[]).is_err());
    assert!(decode_datagram(b"hello").unwrap_err().to_string().contains("first byte"));
}

#[test]
fn receiver_collects_datagrams_over_loopback() {
    let receiver = Receiver::bind("127.0.0.1:0").unwrap();
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = receiver.local_addr();
    sender.send_to(&vector_105(), to).unwrap();
    sender.send_to(b"not thrift at all", to).unwrap();
    sender.send_to(&binary_datagram(2), to).unwrap();

    let spans = receiver.wait_for_spans(2, Duration::from_secs(10));
    assert_eq!(spans.len(), 2);
    let ops: Vec<&str> = spans.iter().map(|s| s.operation_name.as_str()).collect();
    assert_eq!(ops, ["op", "binary-op"]);
    let services: Vec<&str> = spans.iter().map(|s| s.service_name.as_str()).collect();
    assert_eq!(services, ["svc", "bin"]);
    // UDP on loopback keeps order; the garbage came between the two batches.
    assert_eq!(receiver.datagram_sizes(), [vector_105().len(), 17, binary_datagram(2).len()]);
    assert_eq!(receiver.decode_errors(), 1);
    let seqids: Vec<Option<i32>> = receiver.batches().iter().map(|b| b.message_seqid).collect();
    assert_eq!(seqids, [Some(1), Some(2)]);
    assert_eq!(receiver.spans(), spans);
}

#[test]
fn wait_for_spans_returns_what_it_has_at_the_timeout() {
    let receiver = Receiver::bind("127.0.0.1:0").unwrap();
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    sender.send_to(&vector_105(), receiver.local_addr()).unwrap();
    assert_eq!(receiver.wait_for_spans(1, Duration::from_secs(10)).len(), 1);
    let start = Instant::now();
    assert_eq!(receiver.wait_for_spans(5, Duration::from_millis(50)).len(), 1);
    assert!(start.elapsed() >= Duration::from_millis(50));
}

#[test]
fn dropping_the_receiver_stops_its_thread_promptly() {
    let receiver = Receiver::bind("0.0.0.0:0").unwrap();
    let start = Instant::now();
    drop(receiver);
    // Woken by a datagram to itself, not left to its 100 ms read timeout (generous bound).
    assert!(start.elapsed() < Duration::from_secs(2));
}
