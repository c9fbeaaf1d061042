//! The JSON sampling strategy served by the Jaeger agent's `/sampling` endpoint (jaeger
//! `pkg/clientcfg/clientcfghttp/handler.go`; jaeger-idl `proto/api_v2/sampling.proto`).
//!
//! Field names are those of `sampling.thrift` / proto `api_v2` JSON. We accept what both agent
//! endpoints emit: `strategyType` as a name (`"PROBABILISTIC"`) or as an integer (`0`), absent
//! or `null` fields as their defaults, and unknown fields (e.g. the ignored
//! `defaultUpperBoundTracesPerSecond`) silently. As usual with serde, a JSON array where an
//! object is expected is read positionally (Go rejects it).

use serde::Deserialize;

/// A parsed strategy, already dispatched as Go does: on which field is present, in the order
/// operationSampling, probabilisticSampling, rateLimitingSampling (jaeger-client-go
/// `sampler_remote.go`: `strategyType` itself is not used).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Strategy {
    /// `operationSampling`: per-operation sampling.
    PerOperation(PerOperationStrategy),
    /// `probabilisticSampling.samplingRate`, not checked yet.
    Probabilistic(f64),
    /// `rateLimitingSampling.maxTracesPerSecond`, not checked yet.
    RateLimiting(f64),
}

/// `PerOperationSamplingStrategies`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PerOperationStrategy {
    /// `defaultSamplingProbability`: the rate of operations not listed.
    pub(crate) default_sampling_probability: f64,
    /// `defaultLowerBoundTracesPerSecond`: every operation's lower bound.
    pub(crate) lower_bound: f64,
    /// `perOperationStrategies` as (operation, samplingRate), in the order received.
    pub(crate) operations: Vec<(String, f64)>,
}

/// Parses a response body. `Ok(None)` is a well-formed response with no strategy Go knows
/// ("unsupported sampling strategy"); `Err` is malformed JSON.
pub(crate) fn parse(body: &[u8]) -> Result<Option<Strategy>, serde_json::Error> {
    let response: Response = serde_json::from_slice(body)?;
    if let Some(ops) = response.operation_sampling {
        // An operation listed without a probabilistic strategy (Go would crash on the nil
        // pointer) gets the default probability.
        let default = ops.default_sampling_probability.unwrap_or(0.0);
        let operations = ops
            .per_operation_strategies
            .unwrap_or_default()
            .into_iter()
            .map(|op| {
                let rate = op.probabilistic_sampling.map_or(default, |p| p.sampling_rate.unwrap_or(0.0));
                (op.operation.unwrap_or_default(), rate)
            })
            .collect();
        return Ok(Some(Strategy::PerOperation(PerOperationStrategy {
            default_sampling_probability: default,
            lower_bound: ops.default_lower_bound_traces_per_second.unwrap_or(0.0),
            operations,
        })));
    }
    if let Some(p) = response.probabilistic_sampling {
        return Ok(Some(Strategy::Probabilistic(p.sampling_rate.unwrap_or(0.0))));
    }
    if let Some(r) = response.rate_limiting_sampling {
        return Ok(Some(Strategy::RateLimiting(r.max_traces_per_second.unwrap_or(0.0))));
    }
    Ok(None)
}

// === wire types ===

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Response {
    /// Checked for a valid value as Go's decoder does, but not used for dispatch.
    #[serde(default, rename = "strategyType")]
    _strategy_type: Option<StrategyType>,
    #[serde(default)]
    probabilistic_sampling: Option<ProbabilisticSampling>,
    #[serde(default)]
    rate_limiting_sampling: Option<RateLimitingSampling>,
    #[serde(default)]
    operation_sampling: Option<OperationSampling>,
}

/// `/sampling` sends the enum name, the legacy `/` endpoint the number (jaeger
/// `pkg/clientcfg/clientcfghttp/handler.go`). Go's
/// decoder rejects unknown names and accepts any integer; so do we.
#[derive(Deserialize)]
#[serde(untagged)]
#[allow(dead_code)] // parsed to be validated, never read
enum StrategyType {
    Name(StrategyName),
    Number(i64),
}

#[derive(Deserialize)]
enum StrategyName {
    #[serde(rename = "PROBABILISTIC")]
    Probabilistic,
    #[serde(rename = "RATE_LIMITING")]
    RateLimiting,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProbabilisticSampling {
    #[serde(default)]
    sampling_rate: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RateLimitingSampling {
    /// An i16 in Thrift, int32 in proto; read as a number of either kind.
    #[serde(default)]
    max_traces_per_second: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OperationSampling {
    #[serde(default)]
    default_sampling_probability: Option<f64>,
    #[serde(default)]
    default_lower_bound_traces_per_second: Option<f64>,
    #[serde(default)]
    per_operation_strategies: Option<Vec<OperationStrategy>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OperationStrategy {
    #[serde(default)]
    operation: Option<String>,
    #[serde(default)]
    probabilistic_sampling: Option<ProbabilisticSampling>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(body: &str) -> Option<Strategy> {
        parse(body.as_bytes()).unwrap_or_else(|e| panic!("{body}: {e}"))
    }

    #[test]
    fn probabilistic_rate_limiting_and_per_operation_strategies_are_parsed() {
        assert_eq!(
            ok(r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.5}}"#),
            Some(Strategy::Probabilistic(0.5))
        );
        assert_eq!(
            ok(r#"{"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":5}}"#),
            Some(Strategy::RateLimiting(5.0))
        );
        let body = r#"{"strategyType":"PROBABILISTIC","operationSampling":{
            "defaultSamplingProbability":0.001,"defaultLowerBoundTracesPerSecond":0.0166,
            "perOperationStrategies":[{"operation":"GET /x","probabilisticSampling":{"samplingRate":0.1}}],
            "defaultUpperBoundTracesPerSecond":0}}"#;
        assert_eq!(
            ok(body),
            Some(Strategy::PerOperation(PerOperationStrategy {
                default_sampling_probability: 0.001,
                lower_bound: 0.0166,
                operations: vec![("GET /x".into(), 0.1)],
            }))
        );
    }

    #[test]
    fn strategy_type_may_be_an_integer_or_absent() {
        assert_eq!(
            ok(r#"{"strategyType":1,"rateLimitingSampling":{"maxTracesPerSecond":2}}"#),
            Some(Strategy::RateLimiting(2.0))
        );
        assert_eq!(
            ok(r#"{"strategyType":0,"probabilisticSampling":{"samplingRate":1}}"#),
            Some(Strategy::Probabilistic(1.0))
        );
        assert_eq!(
            ok(r#"{"probabilisticSampling":{"samplingRate":0.2}}"#),
            Some(Strategy::Probabilistic(0.2))
        );
        assert_eq!(
            ok(r#"{"strategyType":null,"probabilisticSampling":{}}"#),
            Some(Strategy::Probabilistic(0.0))
        );
    }

    #[test]
    fn dispatch_is_on_field_presence_in_go_order() {
        // strategyType says RATE_LIMITING, but operationSampling is present and wins.
        let body = r#"{"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":9},
            "probabilisticSampling":{"samplingRate":0.3},"operationSampling":{"defaultSamplingProbability":0.4}}"#;
        assert!(matches!(ok(body), Some(Strategy::PerOperation(p)) if p.default_sampling_probability == 0.4));
        let body = r#"{"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":9},
            "probabilisticSampling":{"samplingRate":0.3},"operationSampling":null}"#;
        assert_eq!(ok(body), Some(Strategy::Probabilistic(0.3)));
        let body = r#"{"strategyType":"PROBABILISTIC","rateLimitingSampling":{"maxTracesPerSecond":9},
            "probabilisticSampling":null}"#;
        assert_eq!(ok(body), Some(Strategy::RateLimiting(9.0)));
    }

    #[test]
    fn absent_fields_are_defaults() {
        assert_eq!(
            ok(r#"{"operationSampling":{}}"#),
            Some(Strategy::PerOperation(PerOperationStrategy {
                default_sampling_probability: 0.0,
                lower_bound: 0.0,
                operations: vec![],
            }))
        );
        let body = r#"{"operationSampling":{"defaultSamplingProbability":0.3,
            "perOperationStrategies":[{"operation":"a"},{"probabilisticSampling":{"samplingRate":0.9}},
            {"operation":"c","probabilisticSampling":{}}]}}"#;
        assert_eq!(
            ok(body),
            Some(Strategy::PerOperation(PerOperationStrategy {
                default_sampling_probability: 0.3,
                lower_bound: 0.0,
                operations: vec![("a".into(), 0.3), (String::new(), 0.9), ("c".into(), 0.0)],
            }))
        );
        assert_eq!(
            ok(r#"{"rateLimitingSampling":{"maxTracesPerSecond":null}}"#),
            Some(Strategy::RateLimiting(0.0))
        );
    }

    #[test]
    fn no_known_strategy_is_unsupported_not_malformed() {
        assert_eq!(ok("{}"), None);
        // serde reads a JSON array in place of an object positionally; Go would reject it.
        // Either way no strategy is applied; we also count a query ok before the update error.
        assert_eq!(ok("[]"), None);
        assert_eq!(ok(r#"{"strategyType":"PROBABILISTIC","somethingElse":1}"#), None);
    }

    #[test]
    fn malformed_bodies_are_errors() {
        for body in [
            "",
            "not json",
            "null",
            r#"{"strategyType":"PROBABILISTIC""#,
            r#"{"strategyType":"ADAPTIVE","probabilisticSampling":{"samplingRate":0.5}}"#,
            r#"{"strategyType":true}"#,
            r#"{"probabilisticSampling":{"samplingRate":"0.5"}}"#,
            r#"{"rateLimitingSampling":5}"#,
            r#"{"operationSampling":{"perOperationStrategies":{}}}"#,
            "{\"probabilisticSampling\":{\"samplingRate\":0.5}}\u{0}",
        ] {
            assert!(parse(body.as_bytes()).is_err(), "{body:?} should not parse");
        }
        let bad_utf8 = b"{\"operationSampling\":{\"perOperationStrategies\":[{\"operation\":\"\xff\"}]}}";
        assert!(parse(bad_utf8).is_err(), "invalid UTF-8 in an operation name");
    }
}
