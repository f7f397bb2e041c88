//! GPU memory a model needs, from the seed material:
//!
//! ```text
//! M = P × 4 bytes × 1.2 / (32 / Q)
//! ```
//!
//! with `P` the parameter count, `Q` the bits per weight, and 1.2 the overhead of activations
//! and KV cache. 7B at 4 bits → 4.2 GB; 70B at 16 bits → 168 GB.

use serde::{Deserialize, Serialize};

/// The estimate and what it was computed from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MemoryEstimate {
    pub parameters_billion: f64,
    pub bits_per_weight: f64,
    pub gigabytes: f64,
    /// Where the parameter count came from: `backend` or `model name`.
    pub source: String,
}

/// `M` in gigabytes (10⁹ bytes) for `params_billion` × 10⁹ parameters at `bits` per weight.
pub fn gpu_memory_gb(params_billion: f64, bits: f64) -> f64 {
    params_billion * 1e9 * 4.0 * 1.2 / (32.0 / bits) / 1e9
}

/// Parameter count in billions from text like `14b`, `7.6B`, `1.5b`, `70B`, `500m`.
pub fn parse_parameters(text: &str) -> Option<f64> {
    let lower = text.to_ascii_lowercase();
    for token in lower.split(|c: char| !(c.is_ascii_alphanumeric() || c == '.')) {
        let (num, scale) = if let Some(n) = token.strip_suffix('b') {
            (n, 1.0)
        } else if let Some(n) = token.strip_suffix('m') {
            (n, 1e-3)
        } else {
            continue;
        };
        if let Ok(v) = num.parse::<f64>() {
            if v > 0.0 {
                return Some(v * scale);
            }
        }
    }
    None
}

/// Bits per weight from a quantization name: `q4_K_M` → 4, `Q8_0` → 8, `fp16`/`f16`/`bf16`
/// → 16, `fp32` → 32, `int4`/`awq`/`gptq` → 4.
pub fn parse_bits(text: &str) -> Option<f64> {
    let lower = text.to_ascii_lowercase();
    for token in lower.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        let t = token.trim_start_matches("iq").trim_start_matches('q');
        if token.starts_with('q') || token.starts_with("iq") {
            let digits: String = t.chars().take_while(|c| c.is_ascii_digit()).collect();
            if let Ok(b) = digits.parse::<f64>() {
                if (1.0..=16.0).contains(&b) {
                    return Some(b);
                }
            }
        }
        match token {
            "fp16" | "f16" | "bf16" | "float16" => return Some(16.0),
            "fp32" | "f32" | "float32" => return Some(32.0),
            "fp8" | "f8" | "int8" => return Some(8.0),
            "int4" | "awq" | "gptq" => return Some(4.0),
            _ => {}
        }
    }
    None
}

/// Estimate from explicit details (Ollama's `/api/show`), else from the model name. Ollama's
/// default tags are 4-bit, so a name without a quantization counts as 4 bits.
pub fn estimate(
    model: &str,
    details_params: Option<&str>,
    details_quant: Option<&str>,
) -> Option<MemoryEstimate> {
    let (p, source) = match details_params.and_then(parse_parameters) {
        Some(p) => (p, "backend"),
        None => (parse_parameters(model)?, "model name"),
    };
    let q = details_quant
        .and_then(parse_bits)
        .or_else(|| parse_bits(model))
        .unwrap_or(4.0);
    Some(MemoryEstimate {
        parameters_billion: p,
        bits_per_weight: q,
        gigabytes: (gpu_memory_gb(p, q) * 100.0).round() / 100.0,
        source: source.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_table() {
        // P (billions) × Q (bits) → GB, from M = P·4·1.2/(32/Q).
        let table = [
            (1.5, 4.0, 0.9),
            (1.5, 8.0, 1.8),
            (1.5, 16.0, 3.6),
            (7.0, 4.0, 4.2),
            (7.0, 8.0, 8.4),
            (7.0, 16.0, 16.8),
            (9.0, 4.0, 5.4),
            (9.0, 8.0, 10.8),
            (9.0, 16.0, 21.6),
            (40.0, 4.0, 24.0),
            (40.0, 8.0, 48.0),
            (40.0, 16.0, 96.0),
            (70.0, 4.0, 42.0),
            (70.0, 8.0, 84.0),
            (70.0, 16.0, 168.0),
        ];
        for (p, q, gb) in table {
            assert!((gpu_memory_gb(p, q) - gb).abs() < 1e-9, "{p}B at {q} bits");
        }
    }

    #[test]
    fn from_model_names() {
        let e = estimate("deepseek-r1:14b", None, None).unwrap();
        assert_eq!(
            (e.parameters_billion, e.bits_per_weight, e.gigabytes),
            (14.0, 4.0, 8.4)
        );
        let e = estimate("qwen2.5:7b-instruct-q8_0", None, None).unwrap();
        assert_eq!((e.parameters_billion, e.bits_per_weight), (7.0, 8.0));
        let e = estimate("llama3.1:70b-instruct-fp16", None, None).unwrap();
        assert_eq!(e.gigabytes, 168.0);
        assert_eq!(
            estimate("deepseek-r1:1.5b", None, None).unwrap().gigabytes,
            0.9
        );
        assert!(estimate("mystery-model", None, None).is_none());
    }

    #[test]
    fn backend_details_win() {
        let e = estimate("custom", Some("7.6B"), Some("Q4_K_M")).unwrap();
        assert_eq!(
            (e.parameters_billion, e.bits_per_weight, e.source.as_str()),
            (7.6, 4.0, "backend")
        );
        assert_eq!(parse_bits("IQ3_XXS"), Some(3.0));
        assert!((parse_parameters("494.03M").unwrap() - 0.49403).abs() < 1e-12);
    }
}
