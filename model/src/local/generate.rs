//! The generation loop shared by every local model: prefill the prompt once for `n` rows,
//! then decode the rows as one batch, each with its own sampler, until EOS, a stop string, or
//! the token limit; finished rows leave the batch where the model allows it.

use super::Forward;
use super::sampler::Sampler;
use super::tokenizer::TextTokenizer;
use crate::{FinishReason, ModelError};

/// What to generate for one prompt.
pub(crate) struct GenRequest<'a> {
    pub prompt: &'a [u32],
    /// New tokens at most (already capped by the context).
    pub max_new: usize,
    pub stop: &'a [String],
    pub temperature: f64,
    pub top_p: f64,
    /// One seed per row; the number of rows.
    pub seeds: &'a [u64],
}

/// One finished row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GenSample {
    pub text: String,
    pub finish: FinishReason,
    /// Tokens generated (the EOS token not counted).
    pub tokens: usize,
}

struct Row {
    sampler: Sampler,
    ids: Vec<u32>,
    /// Bytes of decoded text already searched for stop strings.
    checked: usize,
    done: Option<(FinishReason, Option<String>)>,
}

/// Earliest stop string in `text[from..]` (the search starts early enough to catch a stop
/// string that straddles `from`): its byte offset.
fn find_stop(text: &str, stop: &[String], from: usize) -> Option<usize> {
    let longest = stop.iter().map(String::len).max().unwrap_or(0);
    let mut start = from.saturating_sub(longest);
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    stop.iter()
        .filter_map(|s| text[start..].find(s.as_str()).map(|p| p + start))
        .min()
}

/// Generate `req.seeds.len()` samples. `cancelled` is polled between steps.
pub(crate) fn generate(
    fwd: &mut dyn Forward,
    tok: &TextTokenizer,
    req: &GenRequest<'_>,
    cancelled: &dyn Fn() -> bool,
) -> Result<Vec<GenSample>, ModelError> {
    let n = req.seeds.len();
    if n == 0 {
        return Ok(Vec::new());
    }
    let mut rows: Vec<Row> = req
        .seeds
        .iter()
        .map(|&s| Row {
            sampler: Sampler::new(s, req.temperature, req.top_p),
            ids: Vec::new(),
            checked: 0,
            done: None,
        })
        .collect();
    let mut logits = fwd.prefill(req.prompt, n)?;
    // `live[k]`: the row whose logits are `logits[k]`.
    let mut live: Vec<usize> = (0..n).collect();
    loop {
        if cancelled() {
            return Err(ModelError::Cancelled);
        }
        let mut next = Vec::with_capacity(live.len());
        for (k, &ri) in live.iter().enumerate() {
            let row = &mut rows[ri];
            if row.done.is_some() {
                // A model that cannot drop rows keeps computing this one; its output is unused.
                next.push(*row.ids.last().unwrap_or(&0));
                continue;
            }
            let t = row.sampler.sample(&logits[k]);
            next.push(t);
            if tok.eos.contains(&t) {
                row.done = Some((FinishReason::Stop, None));
                continue;
            }
            row.ids.push(t);
            if !req.stop.is_empty() {
                let text = tok.decode(&row.ids)?;
                if let Some(p) = find_stop(&text, req.stop, row.checked) {
                    row.done = Some((FinishReason::Stop, Some(text[..p].to_string())));
                    continue;
                }
                row.checked = text.len();
            }
            if row.ids.len() >= req.max_new {
                row.done = Some((FinishReason::Length, None));
            }
        }
        if rows.iter().all(|r| r.done.is_some()) {
            break;
        }
        let keep: Vec<bool> = live.iter().map(|&ri| rows[ri].done.is_none()).collect();
        if keep.iter().any(|k| !k) && fwd.retain(&keep) {
            let mut k = 0;
            live.retain(|_| {
                k += 1;
                keep[k - 1]
            });
            let mut k = 0;
            next.retain(|_| {
                k += 1;
                keep[k - 1]
            });
        }
        logits = fwd.step(&next)?;
    }
    rows.into_iter()
        .map(|row| {
            let (finish, text) = row.done.unwrap_or((FinishReason::Other, None));
            let text = match text {
                Some(t) => t,
                None => tok.decode(&row.ids)?,
            };
            Ok(GenSample {
                text,
                finish,
                tokens: row.ids.len(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_strings_found_across_steps() {
        let stop = vec!["```".to_string(), "\n\n".to_string()];
        assert_eq!(find_stop("abc``", &stop, 0), None);
        assert_eq!(find_stop("abc```x", &stop, 5), Some(3));
        assert_eq!(find_stop("a\n\nb```", &stop, 0), Some(1));
        assert_eq!(find_stop("é\n\n", &stop, 2), Some(2));
    }
}
