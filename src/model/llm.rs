//! Metadata an order carries when an LLM suggested it.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Who suggested an order, why, and how sure it was.
///
/// Persisted with the order and carried to its fills and trades so "why did it buy?" is
/// answerable from the database. Confidence is always within `[0, 1]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "LlmMetaRaw")]
pub struct LlmMeta {
    provider: String,
    model: String,
    reasoning: String,
    confidence: f64,
}

#[derive(Deserialize)]
struct LlmMetaRaw {
    provider: String,
    model: String,
    reasoning: String,
    confidence: f64,
}

impl TryFrom<LlmMetaRaw> for LlmMeta {
    type Error = LlmMetaError;
    fn try_from(r: LlmMetaRaw) -> Result<Self, LlmMetaError> {
        Self::try_new(r.provider, r.model, r.reasoning, r.confidence)
    }
}

/// LLM metadata that cannot be accepted.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum LlmMetaError {
    /// Confidence outside `[0, 1]` or not a finite number.
    #[error("LLM confidence must be a number within [0, 1], got {0}")]
    ConfidenceOutOfRange(f64),
}

impl LlmMeta {
    /// Builds the metadata, refusing a confidence outside `[0, 1]`.
    ///
    /// # Errors
    /// [`LlmMetaError::ConfidenceOutOfRange`] for a confidence below 0, above 1, or NaN.
    pub fn try_new(
        provider: impl Into<String>,
        model: impl Into<String>,
        reasoning: impl Into<String>,
        confidence: f64,
    ) -> Result<Self, LlmMetaError> {
        if !(0.0..=1.0).contains(&confidence) {
            return Err(LlmMetaError::ConfidenceOutOfRange(confidence));
        }
        Ok(Self { provider: provider.into(), model: model.into(), reasoning: reasoning.into(), confidence })
    }

    /// The LLM provider (`openai`, `anthropic`, …).
    #[must_use]
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// The model name.
    #[must_use]
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The model's stated reasoning.
    #[must_use]
    pub fn reasoning(&self) -> &str {
        &self.reasoning
    }

    /// The model's confidence in `[0, 1]`.
    #[must_use]
    pub fn confidence(&self) -> f64 {
        self.confidence
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confidence_must_be_within_unit_interval() {
        assert!(LlmMeta::try_new("p", "m", "r", 0.0).is_ok());
        assert!(LlmMeta::try_new("p", "m", "r", 1.0).is_ok());
        assert_eq!(LlmMeta::try_new("p", "m", "r", 1.01), Err(LlmMetaError::ConfidenceOutOfRange(1.01)));
        assert!(LlmMeta::try_new("p", "m", "r", -0.1).is_err());
        assert!(LlmMeta::try_new("p", "m", "r", f64::NAN).is_err());
    }

    #[test]
    fn deserialisation_validates_too() {
        let bad = r#"{"provider":"p","model":"m","reasoning":"r","confidence":2.0}"#;
        let err = serde_json::from_str::<LlmMeta>(bad).unwrap_err().to_string();
        assert!(err.contains("within [0, 1]"), "{err}");
        let good = r#"{"provider":"p","model":"m","reasoning":"r","confidence":0.7}"#;
        assert_eq!(serde_json::from_str::<LlmMeta>(good).unwrap().confidence(), 0.7);
    }
}
