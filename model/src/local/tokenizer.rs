//! Text ↔ token ids for local models: from a GGUF file's metadata, or from a model folder's
//! `tokenizer.json`.
//!
//! A GGUF vocabulary is rebuilt as the `tokenizers` crate's byte-level BPE (`tokens` +
//! `merges`), with the pre-tokenizer that `tokenizer.ggml.pre` names and the control tokens as
//! special tokens. candle's own GGUF tokenizer does not know `pre = smollm` and prefixes a
//! space, so SmolLM2's chat markers get wrong ids (`shared/reference/smollm2-candle.md`); this
//! one gives llama.cpp's ids (tested against llama-cpp-python on the real file).
//!
//! Text inside messages must never turn into control tokens: [`TextTokenizer::encode`] with
//! `special = false` matches no special token.

use std::collections::HashSet;
use std::path::Path;

use candle_core::quantized::gguf_file;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, SplitDelimiterBehavior, Tokenizer};

use crate::ModelError;

/// GPT-4o / Qwen2 style split (llama.cpp `LLAMA_VOCAB_PRE_TYPE_QWEN2`).
const QWEN2_SPLIT: &str =
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Llama 3 split (`llama-bpe`): digits in runs of up to three.
const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// A tokenizer plus what generation needs to know about its special tokens.
#[derive(Clone)]
pub(crate) struct TextTokenizer {
    /// Matches special tokens in text (for rendered chat templates).
    with_special: Tokenizer,
    /// Treats special-token strings as plain text (for message contents).
    plain: Tokenizer,
    /// The text of every special token.
    special_texts: Vec<String>,
    /// Token ids that end a completion.
    pub eos: HashSet<u32>,
    /// BOS text and id, when the model has one.
    pub bos: Option<(String, u32)>,
    /// EOS text (for chat templates).
    pub eos_text: Option<String>,
    /// Prepend BOS to prompts that do not start with it.
    pub add_bos: bool,
}

impl std::fmt::Debug for TextTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextTokenizer")
            .field("eos", &self.eos)
            .field("bos", &self.bos)
            .finish_non_exhaustive()
    }
}

fn tok_err(what: &str) -> impl FnOnce(tokenizers::Error) -> ModelError + '_ {
    move |e| ModelError::Local(format!("{what}: {e}"))
}

fn md_str<'a>(c: &'a gguf_file::Content, key: &str) -> Option<&'a str> {
    c.metadata.get(key).and_then(|v| v.to_string().ok()).map(String::as_str)
}

fn md_u32(c: &gguf_file::Content, key: &str) -> Option<u32> {
    let v = c.metadata.get(key)?;
    v.to_u32()
        .ok()
        .or_else(|| v.to_i32().ok().and_then(|x| u32::try_from(x).ok()))
}

fn md_strings(c: &gguf_file::Content, key: &str) -> Result<Vec<String>, ModelError> {
    let v = c
        .metadata
        .get(key)
        .ok_or_else(|| ModelError::Local(format!("GGUF metadata has no {key}")))?;
    let items = v.to_vec().map_err(|e| ModelError::Local(format!("{key}: {e}")))?;
    items
        .iter()
        .map(|x| {
            x.to_string()
                .cloned()
                .map_err(|e| ModelError::Local(format!("{key}: {e}")))
        })
        .collect()
}

/// Ids of the end-of-turn markers of common chat formats, when the vocabulary has them.
const END_MARKERS: [&str; 5] = [
    "<|im_end|>",
    "<|eot_id|>",
    "<|end_of_text|>",
    "<|endoftext|>",
    "<|end|>",
];

impl TextTokenizer {
    /// Rebuild the tokenizer a GGUF file describes (`tokenizer.ggml.*`).
    pub(crate) fn from_gguf(c: &gguf_file::Content) -> Result<Self, ModelError> {
        let model = md_str(c, "tokenizer.ggml.model").unwrap_or("");
        if model != "gpt2" {
            return Err(ModelError::Local(format!(
                "GGUF tokenizer model {model:?} is not supported (byte-level BPE, \"gpt2\", is); \
                 use the model's Hugging Face folder with tokenizer.json instead"
            )));
        }
        let tokens = md_strings(c, "tokenizer.ggml.tokens")?;
        let merges = md_strings(c, "tokenizer.ggml.merges")?;
        let types: Vec<i64> = match c.metadata.get("tokenizer.ggml.token_type").map(|v| v.to_vec()) {
            Some(Ok(v)) => v.iter().map(|x| x.to_i32().map(i64::from).unwrap_or(1)).collect(),
            _ => Vec::new(),
        };
        let vocab: Vocab = tokens.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
        let merges: Vec<(String, String)> = merges
            .iter()
            .map(|m| {
                m.split_once(' ')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .ok_or_else(|| ModelError::Local(format!("bad merge {m:?} in the GGUF vocabulary")))
            })
            .collect::<Result<_, _>>()?;
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .build()
            .map_err(|e| ModelError::Local(format!("cannot build the BPE vocabulary: {e}")))?;
        let pre = md_str(c, "tokenizer.ggml.pre").unwrap_or("default");
        let pre_tokenizer: PreTokenizerWrapper = match pre {
            "smollm" => Sequence::new(vec![Digits::new(true).into(), ByteLevel::new(false, true, true).into()]).into(),
            "qwen2" | "deepseek-r1-qwen" => split_then_bytes(QWEN2_SPLIT)?,
            "llama-bpe" | "llama3" | "smaug-bpe" => split_then_bytes(LLAMA3_SPLIT)?,
            "gpt-2" | "gpt2" | "default" => ByteLevel::new(false, true, true).into(),
            other => {
                return Err(ModelError::Local(format!(
                    "GGUF pre-tokenizer {other:?} is not supported (smollm, qwen2, llama-bpe, gpt-2 are)"
                )));
            }
        };
        let mut tok = Tokenizer::new(bpe);
        tok.with_pre_tokenizer(Some(pre_tokenizer));
        tok.with_decoder(Some(ByteLevelDecoder::default()));
        // Control tokens (type 3) are special; user-defined ones (type 4) are added tokens.
        let mut special = Vec::new();
        let mut user = Vec::new();
        for (i, t) in types.iter().enumerate() {
            match t {
                3 => special.push(AddedToken::from(tokens[i].clone(), true)),
                4 => user.push(AddedToken::from(tokens[i].clone(), false).normalized(false)),
                _ => {}
            }
        }
        let special_texts: Vec<String> = special.iter().map(|t| t.content.clone()).collect();
        tok.add_special_tokens(special).map_err(tok_err("special tokens"))?;
        tok.add_tokens(user).map_err(tok_err("added tokens"))?;
        let mut eos: HashSet<u32> = HashSet::new();
        for key in [
            "tokenizer.ggml.eos_token_id",
            "tokenizer.ggml.eot_token_id",
            "tokenizer.ggml.eom_token_id",
        ] {
            if let Some(id) = md_u32(c, key) {
                eos.insert(id);
            }
        }
        for m in END_MARKERS {
            if special_texts.iter().any(|s| s == m)
                && let Some(id) = tok.token_to_id(m)
            {
                eos.insert(id);
            }
        }
        if eos.is_empty() {
            return Err(ModelError::Local(
                "the GGUF vocabulary names no end-of-sequence token".into(),
            ));
        }
        let bos =
            md_u32(c, "tokenizer.ggml.bos_token_id").and_then(|id| tokens.get(id as usize).map(|t| (t.clone(), id)));
        let eos_text = md_u32(c, "tokenizer.ggml.eos_token_id").and_then(|id| tokens.get(id as usize).cloned());
        let add_bos = c
            .metadata
            .get("tokenizer.ggml.add_bos_token")
            .and_then(|v| v.to_bool().ok())
            .unwrap_or(false);
        Ok(Self::finish(tok, special_texts, eos, bos, eos_text, add_bos))
    }

    /// Load `tokenizer.json` (a Hugging Face model folder). `eos` and `bos` come from the
    /// folder's configs (see `local::folder`).
    pub(crate) fn from_file(
        path: &Path,
        eos_texts: &[String],
        eos_ids: &[u32],
        bos_text: Option<String>,
    ) -> Result<Self, ModelError> {
        let tok = Tokenizer::from_file(path)
            .map_err(|e| ModelError::Local(format!("{}: not a readable tokenizer.json: {e}", path.display())))?;
        let special_texts: Vec<String> = tok
            .get_added_tokens_decoder()
            .values()
            .filter(|t| t.special)
            .map(|t| t.content.clone())
            .collect();
        let mut eos: HashSet<u32> = eos_ids.iter().copied().collect();
        for t in eos_texts.iter().map(String::as_str).chain(END_MARKERS) {
            if special_texts.iter().any(|s| s == t)
                && let Some(id) = tok.token_to_id(t)
            {
                eos.insert(id);
            }
        }
        if eos.is_empty() {
            return Err(ModelError::Local(format!(
                "{}: no end-of-sequence token (set eos_token_id in config.json)",
                path.display()
            )));
        }
        let bos = bos_text.and_then(|t| tok.token_to_id(&t).map(|id| (t, id)));
        let eos_text = eos_texts.first().cloned();
        Ok(Self::finish(tok, special_texts, eos, bos, eos_text, false))
    }

    fn finish(
        tok: Tokenizer,
        special_texts: Vec<String>,
        eos: HashSet<u32>,
        bos: Option<(String, u32)>,
        eos_text: Option<String>,
        add_bos: bool,
    ) -> Self {
        let mut plain = tok.clone();
        plain.set_encode_special_tokens(true);
        TextTokenizer {
            with_special: tok,
            plain,
            special_texts,
            eos,
            bos,
            eos_text,
            add_bos,
        }
    }

    /// Token ids of `text`. `special`: whether special-token strings in it become their ids.
    /// Never adds BOS/EOS by itself.
    pub(crate) fn encode(&self, text: &str, special: bool) -> Result<Vec<u32>, ModelError> {
        let tok = if special { &self.with_special } else { &self.plain };
        let enc = tok.encode(text, false).map_err(tok_err("tokenizing"))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Text of `ids`, special tokens left out.
    pub(crate) fn decode(&self, ids: &[u32]) -> Result<String, ModelError> {
        self.with_special.decode(ids, true).map_err(tok_err("decoding"))
    }

    /// Whether `text` contains the text of a special token.
    pub(crate) fn contains_special(&self, text: &str) -> bool {
        self.special_texts
            .iter()
            .any(|s| !s.is_empty() && text.contains(s.as_str()))
    }
}

fn split_then_bytes(pattern: &str) -> Result<PreTokenizerWrapper, ModelError> {
    let split = Split::new(
        SplitPattern::Regex(pattern.to_string()),
        SplitDelimiterBehavior::Isolated,
        false,
    )
    .map_err(|e| ModelError::Local(format!("pre-tokenizer regex: {e}")))?;
    Ok(Sequence::new(vec![split.into(), ByteLevel::new(false, true, false).into()]).into())
}
