//! Chat templates: the Jinja template a model ships (GGUF `tokenizer.chat_template` or
//! `tokenizer_config.json`'s `chat_template`), rendered with minijinja the way Hugging Face
//! renders it (`trim_blocks`, `lstrip_blocks`, Python string methods, `raise_exception`), with
//! `add_generation_prompt = true`. Models without one get ChatML.

use minijinja::{Environment, Error as JinjaError, ErrorKind, Value};
use serde::Serialize;

use crate::openai::role_name;
use crate::{Message, ModelError};

/// ChatML, the fallback (Qwen's and SmolLM's format without their default system prompts).
pub(crate) const CHATML: &str = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

/// A compiled chat template.
pub(crate) struct ChatTemplate {
    env: Environment<'static>,
    bos: String,
    eos: String,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("bos", &self.bos)
            .field("eos", &self.eos)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct Msg<'a> {
    role: &'a str,
    content: &'a str,
}

fn raise_exception(msg: String) -> Result<String, JinjaError> {
    Err(JinjaError::new(ErrorKind::InvalidOperation, msg))
}

fn strftime_now(fmt: String) -> String {
    // Templates use it for "Today's date"; a fixed, neutral date keeps prompts reproducible.
    fmt.replace("%Y", "2024")
        .replace("%m", "01")
        .replace("%d", "01")
        .replace("%b", "Jan")
        .replace("%B", "January")
}

impl ChatTemplate {
    /// Compile `source`; `bos` / `eos` are what `bos_token` / `eos_token` render as.
    pub(crate) fn new(source: &str, bos: &str, eos: &str) -> Result<Self, ModelError> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        minijinja_contrib::add_to_environment(&mut env);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", raise_exception);
        env.add_function("strftime_now", strftime_now);
        env.add_template_owned("chat", source.to_string())
            .map_err(|e| ModelError::Local(format!("the chat template does not compile: {e}")))?;
        Ok(ChatTemplate {
            env,
            bos: bos.to_string(),
            eos: eos.to_string(),
        })
    }

    /// The prompt for `messages`, ending where the assistant's answer starts.
    pub(crate) fn render(&self, messages: &[Message]) -> Result<String, ModelError> {
        let msgs: Vec<Msg<'_>> = messages
            .iter()
            .map(|m| Msg {
                role: role_name(m.role),
                content: &m.content,
            })
            .collect();
        let tmpl = self
            .env
            .get_template("chat")
            .map_err(|e| ModelError::Local(format!("chat template: {e}")))?;
        tmpl.render(minijinja::context! {
            messages => Value::from_serialize(&msgs),
            add_generation_prompt => true,
            bos_token => self.bos.as_str(),
            eos_token => self.eos.as_str(),
        })
        .map_err(|e| ModelError::BadRequest(format!("the chat template refused these messages: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMOLLM2: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    #[test]
    fn smollm2_template_renders_its_default_system_prompt() {
        let t = ChatTemplate::new(SMOLLM2, "<|im_start|>", "<|im_end|>").unwrap();
        assert_eq!(
            t.render(&[Message::user("Hi")]).unwrap(),
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
        assert_eq!(
            t.render(&[Message::system("S"), Message::user("U")]).unwrap(),
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn python_methods_and_exceptions() {
        let src = "{% if messages[0]['role'] == 'assistant' %}{{ raise_exception('must start with user') }}{% endif %}{{ bos_token }}{% for m in messages %}[{{ m['content'].strip() | upper }}]{% endfor %}";
        let t = ChatTemplate::new(src, "<s>", "</s>").unwrap();
        assert_eq!(t.render(&[Message::user("  a b  ")]).unwrap(), "<s>[A B]");
        let err = t.render(&[Message::assistant("x")]).unwrap_err().to_string();
        assert!(err.contains("must start with user"), "{err}");
        assert!(ChatTemplate::new("{% for %}", "", "").is_err());
    }
}
