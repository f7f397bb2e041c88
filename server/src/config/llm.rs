//! `[llm]`: the chat model's backend.

use serde::{Deserialize, Serialize};

/// Which wire protocol the backend speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Ollama,
    Openai,
}

/// `[llm]`: the backend. With an empty `base_url` or `model`, no LLM is configured and
/// answers are extractive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlmConfig {
    pub provider: Provider,
    pub base_url: String,
    pub model: String,
    pub api_key: retrieval::Secret,
    /// The model's context window in tokens (Ollama's `num_ctx`).
    pub context_window: usize,
    /// Tokens kept free for the answer.
    pub max_answer_tokens: usize,
    pub temperature: f32,
    pub connect_timeout_secs: u64,
    /// Longest wait for the reply to start (models load, prompts are evaluated).
    pub first_token_timeout_secs: u64,
    /// Longest silence between two pieces of a streamed reply.
    pub idle_timeout_secs: u64,
}

impl Default for LlmConfig {
    fn default() -> Self {
        Self {
            provider: Provider::Ollama,
            base_url: String::new(),
            model: String::new(),
            api_key: Default::default(),
            context_window: 8192,
            max_answer_tokens: 1024,
            temperature: 0.2,
            connect_timeout_secs: 10,
            first_token_timeout_secs: 120,
            idle_timeout_secs: 60,
        }
    }
}

impl LlmConfig {
    pub fn is_configured(&self) -> bool {
        !self.base_url.trim().is_empty() && !self.model.trim().is_empty()
    }

    /// The chat endpoint of the configured protocol.
    pub fn chat_url(&self) -> String {
        let base = self.base_url.trim_end_matches('/');
        match self.provider {
            Provider::Ollama => format!("{base}/api/chat"),
            Provider::Openai if base.ends_with("/v1") => format!("{base}/chat/completions"),
            Provider::Openai => format!("{base}/v1/chat/completions"),
        }
    }
}
