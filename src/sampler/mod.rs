//! TEMPORARY stub of the sampler contract (replaced by the sampling branch).
#![allow(missing_docs, dead_code)]
use std::sync::Arc;

use crate::error::Error;
use crate::id::TraceId;
use crate::stats::Counters;

#[derive(Clone, Debug)]
pub struct Sampler(bool);
impl Sampler {
    pub fn always() -> Sampler {
        Sampler(true)
    }
    pub fn never() -> Sampler {
        Sampler(false)
    }
    pub(crate) fn start(&self, _: &str, _: Arc<Counters>) -> Result<ActiveSampler, Error> {
        Ok(ActiveSampler(self.0))
    }
}
pub(crate) struct ActiveSampler(bool);
impl ActiveSampler {
    pub(crate) fn decide(&self, _: TraceId, _: &str) -> SamplingDecision {
        SamplingDecision { sampled: self.0, sampler_type: "const", param: SamplerParam::Bool(self.0) }
    }
}
pub(crate) struct SamplingDecision {
    pub(crate) sampled: bool,
    pub(crate) sampler_type: &'static str,
    pub(crate) param: SamplerParam,
}
pub(crate) enum SamplerParam {
    Bool(bool),
    Double(f64),
}
