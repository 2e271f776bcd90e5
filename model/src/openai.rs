//! The OpenAI chat-completions wire format, as far as this project speaks it: what the HTTP
//! client sends and reads, and what `agentless-mini serve` accepts and answers.
//!
//! Reading is lenient where servers differ (`content` null or a list of text parts, `stop` a
//! string or a list, `usage` absent, `max_completion_tokens` instead of `max_tokens`).

use serde::{Deserialize, Serialize};

use crate::{ChatRequest, FinishReason, Message, ModelError, Role};

/// `POST /v1/chat/completions` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ChatCompletionRequest {
    #[serde(default)]
    pub model: String,
    pub messages: Vec<WireMessage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Stop>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
}

/// `stop`: one string or several.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

impl Stop {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            Stop::One(s) => vec![s],
            Stop::Many(v) => v,
        }
    }
}

/// One message on the wire. `content` may be a string, null, or a list of `{type, text}` parts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireMessage {
    pub role: String,
    #[serde(default)]
    pub content: Option<serde_json::Value>,
}

impl WireMessage {
    pub fn from_message(m: &Message) -> Self {
        WireMessage {
            role: role_name(m.role).to_string(),
            content: Some(serde_json::Value::String(m.content.clone())),
        }
    }

    /// The text of the message: a string, or the `text` of every text part joined.
    pub fn text(&self) -> Result<String, String> {
        match &self.content {
            None | Some(serde_json::Value::Null) => Ok(String::new()),
            Some(serde_json::Value::String(s)) => Ok(s.clone()),
            Some(serde_json::Value::Array(parts)) => {
                let mut out = String::new();
                for p in parts {
                    match (
                        p.get("type").and_then(|t| t.as_str()),
                        p.get("text").and_then(|t| t.as_str()),
                    ) {
                        (Some("text") | None, Some(t)) => out.push_str(t),
                        (kind, _) => {
                            return Err(format!("unsupported content part type {:?}", kind.unwrap_or("?")));
                        }
                    }
                }
                Ok(out)
            }
            Some(other) => Err(format!("message content must be a string, got {other}")),
        }
    }
}

pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
    }
}

pub fn parse_role(s: &str) -> Option<Role> {
    match s {
        "system" | "developer" => Some(Role::System),
        "user" => Some(Role::User),
        "assistant" => Some(Role::Assistant),
        _ => None,
    }
}

impl ChatCompletionRequest {
    /// The wire body for `n` samples of `req`, starting at sample `first` (its seed is
    /// `seed + first`, so a request split in several keeps the per-sample seeds).
    pub fn from_chat(req: &ChatRequest, model: &str, first: u32, n: u32) -> Self {
        ChatCompletionRequest {
            model: model.to_string(),
            messages: req.messages.iter().map(WireMessage::from_message).collect(),
            temperature: Some(req.temperature),
            top_p: Some(req.top_p),
            max_tokens: Some(req.max_tokens),
            max_completion_tokens: None,
            stop: if req.stop.is_empty() {
                None
            } else {
                Some(Stop::Many(req.stop.clone()))
            },
            seed: req.sample_seed(first),
            n: Some(n),
            stream: None,
        }
    }

    /// The [`ChatRequest`] this body asks for (server side). Defaults follow OpenAI's:
    /// temperature 1, top_p 1, n 1; `max_tokens` defaults to `default_max_tokens`.
    pub fn to_chat(&self, default_max_tokens: u32) -> Result<ChatRequest, ModelError> {
        if self.stream == Some(true) {
            return Err(ModelError::BadRequest(
                "streaming is not supported; send stream: false".into(),
            ));
        }
        let mut messages = Vec::with_capacity(self.messages.len());
        for (i, m) in self.messages.iter().enumerate() {
            let role = parse_role(&m.role)
                .ok_or_else(|| ModelError::BadRequest(format!("messages[{i}]: unsupported role {:?}", m.role)))?;
            let content = m
                .text()
                .map_err(|e| ModelError::BadRequest(format!("messages[{i}]: {e}")))?;
            messages.push(Message { role, content });
        }
        let req = ChatRequest {
            messages,
            temperature: self.temperature.unwrap_or(1.0),
            top_p: self.top_p.unwrap_or(1.0),
            max_tokens: self
                .max_completion_tokens
                .or(self.max_tokens)
                .unwrap_or(default_max_tokens),
            stop: self.stop.clone().map(Stop::into_vec).unwrap_or_default(),
            seed: self.seed,
            n: self.n.unwrap_or(1),
        };
        req.validate()?;
        Ok(req)
    }
}

/// `POST /v1/chat/completions` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatCompletionResponse {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub object: String,
    #[serde(default)]
    pub created: u64,
    #[serde(default)]
    pub model: String,
    pub choices: Vec<Choice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<WireUsage>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Choice {
    #[serde(default)]
    pub index: u32,
    pub message: ChoiceMessage,
    #[serde(default)]
    pub finish_reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChoiceMessage {
    #[serde(default)]
    pub role: String,
    #[serde(default)]
    pub content: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct WireUsage {
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub completion_tokens: u64,
    #[serde(default)]
    pub total_tokens: u64,
}

pub fn finish_reason_from_wire(s: Option<&str>) -> FinishReason {
    match s {
        Some("stop") | Some("eos") | Some("stop_sequence") => FinishReason::Stop,
        Some("length") | Some("max_tokens") => FinishReason::Length,
        _ => FinishReason::Other,
    }
}

/// `{"error": {"message": ..., "type": ...}}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub message: String,
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<serde_json::Value>,
}

/// `GET /v1/models` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelList {
    #[serde(default)]
    pub object: String,
    pub data: Vec<ModelCard>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelCard {
    pub id: String,
    #[serde(default)]
    pub object: String,
    #[serde(default)]
    pub created: u64,
    #[serde(default)]
    pub owned_by: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trip_keeps_sample_seeds() {
        let mut req = ChatRequest::new(vec![Message::system("s"), Message::user("u")], 0.7, 5);
        req.seed = Some(10);
        req.stop = vec!["\n\n".into()];
        let wire = ChatCompletionRequest::from_chat(&req, "m", 3, 2);
        assert_eq!(wire.seed, Some(13));
        assert_eq!(wire.n, Some(2));
        let json = serde_json::to_value(&wire).unwrap();
        assert_eq!(json["messages"][1]["content"], "u");
        let back = wire.to_chat(16).unwrap();
        assert_eq!(back.messages, req.messages);
        assert_eq!(back.stop, req.stop);
        assert_eq!(back.n, 2);
    }

    #[test]
    fn lenient_reading() {
        let body = r#"{"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}],
                       "stop":"x","max_completion_tokens":7}"#;
        let wire: ChatCompletionRequest = serde_json::from_str(body).unwrap();
        let req = wire.to_chat(16).unwrap();
        assert_eq!(req.messages[0].content, "ab");
        assert_eq!(req.stop, vec!["x".to_string()]);
        assert_eq!(req.max_tokens, 7);
        assert_eq!(req.temperature, 1.0);
        let bad: ChatCompletionRequest =
            serde_json::from_str(r#"{"messages":[{"role":"tool","content":"x"}]}"#).unwrap();
        assert!(matches!(bad.to_chat(16), Err(ModelError::BadRequest(_))));
        let resp: ChatCompletionResponse =
            serde_json::from_str(r#"{"choices":[{"message":{"content":null},"finish_reason":"length"}]}"#).unwrap();
        assert_eq!(resp.choices[0].message.content, None);
        assert_eq!(
            finish_reason_from_wire(resp.choices[0].finish_reason.as_deref()),
            FinishReason::Length
        );
    }
}
