//! The CPU engine for quantized GGUF models of the Llama and Qwen2 families.
//!
//! candle reads the file (`gguf_file::Content`, tensors, dequantization of the small or exotic
//! ones); the forward pass is written here because stock candle has no SIMD kernel for Q4_1 and
//! pays a per-op overhead that dominates a 135M-parameter model (see
//! `shared/reference/smollm2-candle.md`: 4.5x slower decode, 11x slower prompt than llama.cpp).
//! What makes it fast:
//!
//! - weights stay in their GGUF blocks; matrix products quantize the activations to 8 bits and
//!   run runtime-dispatched AVX2 / VNNI integer kernels ([`quant`], [`simd`]);
//! - Q/K/V and gate/up projections run as one parallel pass each; buffers are reused;
//! - logits only for the rows that need them (the last prompt position, each decoding row);
//! - `n` samples of one prompt share its prefill: the KV cache of the prompt is computed once
//!   and copied, then the `n` rows decode as one batch (weights read once per step), and rows
//!   that finished are dropped from the batch.
//!
//! Every row is computed independently with the same operations, so a row's logits do not
//! depend on which other rows are in the batch (batched and single generation agree exactly).

pub(crate) mod quant;
#[cfg(target_arch = "x86_64")]
pub(crate) mod simd;

use std::sync::Arc;

use candle_core::Device;
use candle_core::quantized::{GgmlDType, gguf_file};
use rayon::prelude::*;

use self::quant::{QActs, QMatrix, matmul, matmul_many};
use super::Forward;
use crate::ModelError;

/// Model families the engine runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arch {
    Llama,
    Qwen2,
}

/// How RoPE pairs the dimensions of a head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RopeStyle {
    /// `(x[2i], x[2i+1])`: GGUF Llama (the converter permuted Q/K for it).
    Interleaved,
    /// `(x[i], x[i + d/2])`: GGUF Qwen2 (llama.cpp's NEOX mode), Hugging Face weights.
    Halves,
}

/// Shape and hyper-parameters, from the GGUF metadata.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub arch: Arch,
    pub n_layer: usize,
    pub n_embd: usize,
    pub n_ff: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    pub head_dim: usize,
    pub rope_base: f64,
    pub rope: RopeStyle,
    pub rms_eps: f32,
    pub context_len: usize,
    pub vocab: usize,
}

impl Config {
    fn q_dim(&self) -> usize {
        self.n_head * self.head_dim
    }
    fn kv_dim(&self) -> usize {
        self.n_head_kv * self.head_dim
    }
}

struct Layer {
    attn_norm: Vec<f32>,
    wq: QMatrix,
    wk: QMatrix,
    wv: QMatrix,
    bq: Option<Vec<f32>>,
    bk: Option<Vec<f32>>,
    bv: Option<Vec<f32>>,
    wo: QMatrix,
    ffn_norm: Vec<f32>,
    w_gate: QMatrix,
    w_up: QMatrix,
    w_down: QMatrix,
}

/// A loaded model: weights and the thread pool that runs it.
pub(crate) struct Engine {
    pub cfg: Config,
    layers: Vec<Layer>,
    tok_embd: QMatrix,
    out_norm: Vec<f32>,
    /// `None`: tied to `tok_embd`.
    lm_head: Option<QMatrix>,
    /// RoPE inverse frequencies (`head_dim / 2`), with Llama 3.1 `rope_freqs` factors applied.
    inv_freq: Vec<f64>,
    pool: rayon::ThreadPool,
    /// Bytes of weight data read per decoding step.
    pub weight_bytes: usize,
}

fn md<'a>(c: &'a gguf_file::Content, key: &str) -> Result<&'a gguf_file::Value, ModelError> {
    c.metadata
        .get(key)
        .ok_or_else(|| ModelError::Local(format!("GGUF metadata has no {key}")))
}

fn md_usize(c: &gguf_file::Content, key: &str) -> Result<usize, ModelError> {
    let v = md(c, key)?;
    v.to_u32()
        .map(|x| x as usize)
        .or_else(|_| v.to_u64().map(|x| x as usize))
        .or_else(|_| v.to_i32().map(|x| x.max(0) as usize))
        .map_err(|e| ModelError::Local(format!("GGUF {key}: {e}")))
}

fn md_f32(c: &gguf_file::Content, key: &str) -> Result<f32, ModelError> {
    md(c, key)?
        .to_f32()
        .map_err(|e| ModelError::Local(format!("GGUF {key}: {e}")))
}

fn local_err(what: &str) -> impl FnOnce(candle_core::Error) -> ModelError + '_ {
    move |e| ModelError::Local(format!("{what}: {e}"))
}

impl Config {
    pub(crate) fn from_gguf(c: &gguf_file::Content) -> Result<Self, ModelError> {
        let arch_name = md(c, "general.architecture")?
            .to_string()
            .map_err(|e| ModelError::Local(format!("general.architecture: {e}")))?
            .clone();
        let (arch, rope) = match arch_name.as_str() {
            "llama" => (Arch::Llama, RopeStyle::Interleaved),
            "qwen2" => (Arch::Qwen2, RopeStyle::Halves),
            other => {
                return Err(ModelError::Local(format!(
                    "GGUF architecture {other:?} is not supported (llama and qwen2 are)"
                )));
            }
        };
        let p = |k: &str| format!("{arch_name}.{k}");
        let n_embd = md_usize(c, &p("embedding_length"))?;
        let n_head = md_usize(c, &p("attention.head_count"))?;
        let n_head_kv = md_usize(c, &p("attention.head_count_kv")).unwrap_or(n_head);
        let head_dim = md_usize(c, &p("attention.key_length")).unwrap_or(n_embd / n_head.max(1));
        if n_head == 0 || n_head_kv == 0 || n_head % n_head_kv != 0 || head_dim % 2 != 0 {
            return Err(ModelError::Local(format!(
                "bad head counts: {n_head} heads, {n_head_kv} KV heads"
            )));
        }
        if let Ok(rot) = md_usize(c, &p("rope.dimension_count"))
            && rot != head_dim
        {
            return Err(ModelError::Local(format!(
                "partial rotary embeddings ({rot} of {head_dim}) are not supported"
            )));
        }
        let vocab = match c.metadata.get("tokenizer.ggml.tokens") {
            Some(t) => t.to_vec().map(Vec::len).unwrap_or(0),
            None => 0,
        };
        let vocab = if vocab > 0 {
            vocab
        } else {
            md_usize(c, &p("vocab_size"))?
        };
        Ok(Config {
            arch,
            n_layer: md_usize(c, &p("block_count"))?,
            n_embd,
            n_ff: md_usize(c, &p("feed_forward_length"))?,
            n_head,
            n_head_kv,
            head_dim,
            rope_base: f64::from(md_f32(c, &p("rope.freq_base")).unwrap_or(10_000.0)),
            rope,
            rms_eps: md_f32(c, &p("attention.layer_norm_rms_epsilon")).unwrap_or(1e-5),
            context_len: md_usize(c, &p("context_length")).unwrap_or(4096),
            vocab,
        })
    }
}

/// Reads tensors of one GGUF file into engine formats.
struct Loader<'a, R> {
    content: &'a gguf_file::Content,
    reader: &'a mut R,
}

impl<R: std::io::Read + std::io::Seek> Loader<'_, R> {
    fn has(&self, name: &str) -> bool {
        self.content.tensor_infos.contains_key(name)
    }

    fn vector(&mut self, name: &str, len: usize) -> Result<Vec<f32>, ModelError> {
        let t = self
            .content
            .tensor(self.reader, name, &Device::Cpu)
            .map_err(local_err(name))?;
        let v = t
            .dequantize(&Device::Cpu)
            .and_then(|t| t.flatten_all())
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(local_err(name))?;
        if v.len() != len {
            return Err(ModelError::Local(format!(
                "{name} has {} values, expected {len}",
                v.len()
            )));
        }
        Ok(v)
    }

    fn opt_vector(&mut self, name: &str, len: usize) -> Result<Option<Vec<f32>>, ModelError> {
        if self.has(name) {
            self.vector(name, len).map(Some)
        } else {
            Ok(None)
        }
    }

    /// A `rows × cols` weight matrix; Q4_0/Q4_1/Q8_0 kept as they are, anything else
    /// re-quantized to Q8_0.
    fn matrix(&mut self, name: &str, rows: usize, cols: usize) -> Result<QMatrix, ModelError> {
        let t = self
            .content
            .tensor(self.reader, name, &Device::Cpu)
            .map_err(local_err(name))?;
        let dims = t.shape().dims().to_vec();
        if dims != [rows, cols] {
            return Err(ModelError::Local(format!(
                "{name} has shape {dims:?}, expected [{rows}, {cols}]"
            )));
        }
        let loaded = match t.dtype() {
            GgmlDType::Q4_1 => QMatrix::from_q4_1_bytes(rows, cols, &t.data().map_err(local_err(name))?),
            GgmlDType::Q4_0 => QMatrix::from_q4_0_bytes(rows, cols, &t.data().map_err(local_err(name))?),
            GgmlDType::Q8_0 => QMatrix::from_q8_0_bytes(rows, cols, &t.data().map_err(local_err(name))?),
            _ => {
                let v = t
                    .dequantize(&Device::Cpu)
                    .and_then(|t| t.flatten_all())
                    .and_then(|t| t.to_vec1::<f32>())
                    .map_err(local_err(name))?;
                QMatrix::quantize_q8(rows, cols, &v)
            }
        };
        loaded.map_err(|e| ModelError::Local(format!("{name}: {e}")))
    }
}

impl Engine {
    pub(crate) fn from_content<R: std::io::Read + std::io::Seek>(
        content: &gguf_file::Content,
        reader: &mut R,
        threads: Option<usize>,
    ) -> Result<Self, ModelError> {
        let cfg = Config::from_gguf(content)?;
        let mut ld = Loader { content, reader };
        let (d, qd, kvd, ff) = (cfg.n_embd, cfg.q_dim(), cfg.kv_dim(), cfg.n_ff);
        let mut layers = Vec::with_capacity(cfg.n_layer);
        for i in 0..cfg.n_layer {
            let n = |s: &str| format!("blk.{i}.{s}");
            layers.push(Layer {
                attn_norm: ld.vector(&n("attn_norm.weight"), d)?,
                wq: ld.matrix(&n("attn_q.weight"), qd, d)?,
                wk: ld.matrix(&n("attn_k.weight"), kvd, d)?,
                wv: ld.matrix(&n("attn_v.weight"), kvd, d)?,
                bq: ld.opt_vector(&n("attn_q.bias"), qd)?,
                bk: ld.opt_vector(&n("attn_k.bias"), kvd)?,
                bv: ld.opt_vector(&n("attn_v.bias"), kvd)?,
                wo: ld.matrix(&n("attn_output.weight"), d, qd)?,
                ffn_norm: ld.vector(&n("ffn_norm.weight"), d)?,
                w_gate: ld.matrix(&n("ffn_gate.weight"), ff, d)?,
                w_up: ld.matrix(&n("ffn_up.weight"), ff, d)?,
                w_down: ld.matrix(&n("ffn_down.weight"), d, ff)?,
            });
        }
        let tok_embd = ld.matrix("token_embd.weight", cfg.vocab, d)?;
        let out_norm = ld.vector("output_norm.weight", d)?;
        let lm_head = if ld.has("output.weight") {
            Some(ld.matrix("output.weight", cfg.vocab, d)?)
        } else {
            None
        };
        let half = cfg.head_dim / 2;
        let factors = ld.opt_vector("rope_freqs.weight", half)?;
        let inv_freq = (0..half)
            .map(|i| {
                let f = cfg.rope_base.powf(-2.0 * i as f64 / cfg.head_dim as f64);
                match &factors {
                    Some(fs) => f / f64::from(fs[i]),
                    None => f,
                }
            })
            .collect();
        let threads = threads.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .thread_name(|i| format!("agentless-engine-{i}"))
            .build()
            .map_err(|e| ModelError::Local(format!("cannot start the engine threads: {e}")))?;
        let weight_bytes = layers
            .iter()
            .map(|l| {
                [&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down]
                    .iter()
                    .map(|m| m.bytes())
                    .sum::<usize>()
            })
            .sum::<usize>()
            + lm_head.as_ref().unwrap_or(&tok_embd).bytes();
        Ok(Engine {
            cfg,
            layers,
            tok_embd,
            out_norm,
            lm_head,
            inv_freq,
            pool,
            weight_bytes,
        })
    }

    pub(crate) fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    /// Weight formats in use, e.g. `Q4_1 x210, Q8_0 x1`.
    pub(crate) fn formats(&self) -> String {
        let mut counts: Vec<(&str, usize)> = Vec::new();
        let mut add = |k: &'static str| match counts.iter_mut().find(|(n, _)| *n == k) {
            Some((_, c)) => *c += 1,
            None => counts.push((k, 1)),
        };
        for l in &self.layers {
            for m in [&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down] {
                add(m.kind());
            }
        }
        add(self.lm_head.as_ref().unwrap_or(&self.tok_embd).kind());
        counts
            .iter()
            .map(|(k, c)| format!("{k} x{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Keys and values of consecutive positions: per layer, `len × kv_dim` each.
#[derive(Debug, Clone)]
struct Kv {
    k: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    len: usize,
}

impl Kv {
    fn new(n_layer: usize) -> Self {
        Kv {
            k: vec![Vec::new(); n_layer],
            v: vec![Vec::new(); n_layer],
            len: 0,
        }
    }
}

/// The KV cache of one sequence: a prefix shared with the other samples of the same prompt
/// (computed once, never copied), then the sequence's own positions.
#[derive(Debug, Clone)]
pub(crate) struct Seq {
    shared: Option<Arc<Kv>>,
    own: Kv,
}

impl Seq {
    fn new(n_layer: usize) -> Self {
        Seq {
            shared: None,
            own: Kv::new(n_layer),
        }
    }

    fn shared_len(&self) -> usize {
        self.shared.as_ref().map_or(0, |s| s.len)
    }

    fn len(&self) -> usize {
        self.shared_len() + self.own.len
    }

    /// Keys and values of layer `li` for the first `n` positions, as (keys, values, count)
    /// runs: the shared prefix, then the own positions.
    fn runs(&self, li: usize, n: usize) -> [(&[f32], &[f32], usize); 2] {
        let s = self.shared_len().min(n);
        let first: (&[f32], &[f32], usize) = match &self.shared {
            Some(sh) => (&sh.k[li], &sh.v[li], s),
            None => (&[], &[], 0),
        };
        [first, (&self.own.k[li], &self.own.v[li], n - s)]
    }
}

/// Buffers reused across forward calls.
#[derive(Default)]
struct Scratch {
    x: Vec<f32>,
    h: Vec<f32>,
    acts: QActs,
    q_t: Vec<f32>,
    k_t: Vec<f32>,
    v_t: Vec<f32>,
    q: Vec<f32>,
    k: Vec<f32>,
    attn: Vec<f32>,
    o_t: Vec<f32>,
    g_t: Vec<f32>,
    u_t: Vec<f32>,
    ff: Vec<f32>,
    logits_t: Vec<f32>,
}

fn rms_norm(x: &[f32], w: &[f32], eps: f32, out: &mut [f32]) {
    let ss: f32 = x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32;
    let scale = 1.0 / (ss + eps).sqrt();
    for ((o, v), g) in out.iter_mut().zip(x).zip(w) {
        *o = v * scale * g;
    }
}

/// `dst[r][c] = src_t[c][r]` for `src_t` of `cols × rows`.
fn transpose(src_t: &[f32], rows: usize, cols: usize, dst: &mut Vec<f32>) {
    dst.resize(rows * cols, 0.0);
    if rows == 1 {
        dst.copy_from_slice(src_t);
        return;
    }
    for c in 0..cols {
        for r in 0..rows {
            dst[r * cols + c] = src_t[c * rows + r];
        }
    }
}

/// `g = silu(g) * u`, elementwise.
fn silu_mul(g: &mut [f32], u: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    if simd::has_avx2() {
        simd::silu_mul(g, u);
        return;
    }
    for (g, u) in g.iter_mut().zip(u) {
        *g = *g / (1.0 + (-*g).exp()) * u;
    }
}

#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let chunks = a.len() / 8;
    for i in 0..chunks {
        for j in 0..8 {
            acc[j] += a[i * 8 + j] * b[i * 8 + j];
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for i in chunks * 8..a.len() {
        s += a[i] * b[i];
    }
    s
}

fn apply_rope(x: &mut [f32], cos: &[f32], sin: &[f32], style: RopeStyle) {
    let half = cos.len();
    match style {
        RopeStyle::Interleaved => {
            for i in 0..half {
                let (a, b) = (x[2 * i], x[2 * i + 1]);
                x[2 * i] = a * cos[i] - b * sin[i];
                x[2 * i + 1] = a * sin[i] + b * cos[i];
            }
        }
        RopeStyle::Halves => {
            for i in 0..half {
                let (a, b) = (x[i], x[i + half]);
                x[i] = a * cos[i] - b * sin[i];
                x[i + half] = a * sin[i] + b * cos[i];
            }
        }
    }
}

impl Engine {
    /// Run `tokens` (row `r` belongs to sequence `seq_of[r]`, at the next position of that
    /// sequence, rows of one sequence in order) through the model, extending the caches.
    /// Returns the logits (`want.len() × vocab`) of rows `want`.
    fn forward(
        &self,
        seqs: &mut [Seq],
        tokens: &[u32],
        seq_of: &[usize],
        want: &[usize],
        s: &mut Scratch,
    ) -> Result<Vec<f32>, ModelError> {
        let cfg = &self.cfg;
        let m = tokens.len();
        let (d, qd, kvd, hd, ff) = (cfg.n_embd, cfg.q_dim(), cfg.kv_dim(), cfg.head_dim, cfg.n_ff);
        let half = hd / 2;
        // Positions of the rows.
        let mut next: Vec<usize> = seqs.iter().map(Seq::len).collect();
        let mut pos = Vec::with_capacity(m);
        for &sq in seq_of {
            pos.push(next[sq]);
            next[sq] += 1;
        }
        if let Some(&p) = pos.iter().max()
            && p >= cfg.context_len
        {
            return Err(ModelError::BadRequest(format!(
                "position {p} is beyond the model's context of {}",
                cfg.context_len
            )));
        }
        // RoPE tables per row.
        let mut cos = vec![0f32; m * half];
        let mut sin = vec![0f32; m * half];
        for (r, &p) in pos.iter().enumerate() {
            for (i, f) in self.inv_freq.iter().enumerate() {
                let (sn, cs) = (p as f64 * f).sin_cos();
                cos[r * half + i] = cs as f32;
                sin[r * half + i] = sn as f32;
            }
        }
        // Embeddings.
        s.x.resize(m * d, 0.0);
        for (r, &t) in tokens.iter().enumerate() {
            if t as usize >= cfg.vocab {
                return Err(ModelError::Local(format!("token id {t} is outside the vocabulary")));
            }
            self.tok_embd.dequantize_row(t as usize, &mut s.x[r * d..(r + 1) * d]);
        }
        s.h.resize(m * d, 0.0);
        let group = cfg.n_head / cfg.n_head_kv;
        let scale = 1.0 / (hd as f32).sqrt();
        for (li, layer) in self.layers.iter().enumerate() {
            // Attention.
            for r in 0..m {
                rms_norm(
                    &s.x[r * d..(r + 1) * d],
                    &layer.attn_norm,
                    cfg.rms_eps,
                    &mut s.h[r * d..(r + 1) * d],
                );
            }
            s.acts.quantize(&s.h, m, d);
            s.q_t.resize(qd * m, 0.0);
            s.k_t.resize(kvd * m, 0.0);
            s.v_t.resize(kvd * m, 0.0);
            matmul_many(
                &[&layer.wq, &layer.wk, &layer.wv],
                &s.acts,
                &mut [&mut s.q_t, &mut s.k_t, &mut s.v_t],
            );
            transpose(&s.q_t, m, qd, &mut s.q);
            transpose(&s.k_t, m, kvd, &mut s.k);
            let mut v = Vec::new();
            transpose(&s.v_t, m, kvd, &mut v);
            for r in 0..m {
                let (qr, kr, vr) = (
                    &mut s.q[r * qd..(r + 1) * qd],
                    &mut s.k[r * kvd..(r + 1) * kvd],
                    &mut v[r * kvd..(r + 1) * kvd],
                );
                for (x, b) in [(&mut *qr, &layer.bq), (&mut *kr, &layer.bk), (&mut *vr, &layer.bv)] {
                    if let Some(b) = b {
                        x.iter_mut().zip(b).for_each(|(x, b)| *x += b);
                    }
                }
                let (c, sn) = (&cos[r * half..(r + 1) * half], &sin[r * half..(r + 1) * half]);
                for h in qr.chunks_exact_mut(hd) {
                    apply_rope(h, c, sn, cfg.rope);
                }
                for h in kr.chunks_exact_mut(hd) {
                    apply_rope(h, c, sn, cfg.rope);
                }
                let sq = &mut seqs[seq_of[r]];
                sq.own.k[li].extend_from_slice(kr);
                sq.own.v[li].extend_from_slice(vr);
            }
            s.attn.resize(m * qd, 0.0);
            {
                let seqs: &[Seq] = seqs;
                let (q, pos, seq_of) = (&s.q, &pos, seq_of);
                s.attn
                    .par_chunks_mut(hd)
                    .enumerate()
                    .for_each_init(Vec::new, |scores: &mut Vec<f32>, (i, out)| {
                        let (r, h) = (i / cfg.n_head, i % cfg.n_head);
                        let g = h / group;
                        let qh = &q[r * qd + h * hd..r * qd + (h + 1) * hd];
                        let runs = seqs[seq_of[r]].runs(li, pos[r] + 1);
                        #[cfg(target_arch = "x86_64")]
                        if simd::has_avx2() && hd % 8 == 0 {
                            simd::attend(qh, &runs, g * hd, kvd, scale, scores, out);
                            return;
                        }
                        scores.clear();
                        let mut mx = f32::NEG_INFINITY;
                        for (keys, _, count) in runs {
                            for j in 0..count {
                                let sc = dot(qh, &keys[j * kvd + g * hd..j * kvd + (g + 1) * hd]) * scale;
                                mx = mx.max(sc);
                                scores.push(sc);
                            }
                        }
                        let mut sum = 0f32;
                        for sc in scores.iter_mut() {
                            *sc = (*sc - mx).exp();
                            sum += *sc;
                        }
                        let inv = 1.0 / sum;
                        out.fill(0.0);
                        let mut p = scores.iter();
                        for (_, vals, count) in runs {
                            for (j, w) in p.by_ref().take(count).enumerate() {
                                let w = w * inv;
                                let vj = &vals[j * kvd + g * hd..j * kvd + (g + 1) * hd];
                                for (o, x) in out.iter_mut().zip(vj) {
                                    *o += w * x;
                                }
                            }
                        }
                    });
            }
            s.acts.quantize(&s.attn, m, qd);
            s.o_t.resize(d * m, 0.0);
            matmul(&layer.wo, &s.acts, &mut s.o_t);
            for r in 0..m {
                for c in 0..d {
                    s.x[r * d + c] += s.o_t[c * m + r];
                }
            }
            // Feed-forward (SwiGLU).
            for r in 0..m {
                rms_norm(
                    &s.x[r * d..(r + 1) * d],
                    &layer.ffn_norm,
                    cfg.rms_eps,
                    &mut s.h[r * d..(r + 1) * d],
                );
            }
            s.acts.quantize(&s.h, m, d);
            s.g_t.resize(ff * m, 0.0);
            s.u_t.resize(ff * m, 0.0);
            matmul_many(&[&layer.w_gate, &layer.w_up], &s.acts, &mut [&mut s.g_t, &mut s.u_t]);
            silu_mul(&mut s.g_t, &s.u_t);
            transpose(&s.g_t, m, ff, &mut s.ff);
            s.acts.quantize(&s.ff, m, ff);
            s.o_t.resize(d * m, 0.0);
            matmul(&layer.w_down, &s.acts, &mut s.o_t);
            for r in 0..m {
                for c in 0..d {
                    s.x[r * d + c] += s.o_t[c * m + r];
                }
            }
        }
        for (sq, n) in seqs.iter_mut().zip(next) {
            sq.own.len = n - sq.shared_len();
        }
        // Logits of the wanted rows.
        let l = want.len();
        if l == 0 {
            return Ok(Vec::new());
        }
        s.h.resize(l * d, 0.0);
        for (i, &r) in want.iter().enumerate() {
            rms_norm(
                &s.x[r * d..(r + 1) * d],
                &self.out_norm,
                cfg.rms_eps,
                &mut s.h[i * d..(i + 1) * d],
            );
        }
        s.acts.quantize(&s.h[..l * d], l, d);
        let head = self.lm_head.as_ref().unwrap_or(&self.tok_embd);
        s.logits_t.resize(cfg.vocab * l, 0.0);
        matmul(head, &s.acts, &mut s.logits_t);
        let mut logits = Vec::new();
        transpose(&s.logits_t, l, cfg.vocab, &mut logits);
        Ok(logits)
    }
}

/// The engine behind the [`Forward`] interface, with its caches.
pub(crate) struct EngineForward {
    engine: Engine,
    seqs: Vec<Seq>,
    scratch: Scratch,
    /// Prompt tokens per forward call (bounds the scratch memory of long prompts).
    chunk: usize,
}

impl EngineForward {
    pub(crate) fn new(engine: Engine) -> Self {
        EngineForward {
            engine,
            seqs: Vec::new(),
            scratch: Scratch::default(),
            chunk: 512,
        }
    }
}

impl Forward for EngineForward {
    fn prefill(&mut self, prompt: &[u32], n: usize) -> Result<Vec<Vec<f32>>, ModelError> {
        if prompt.is_empty() {
            return Err(ModelError::BadRequest("empty prompt".into()));
        }
        let engine = &self.engine;
        let mut seqs = vec![Seq::new(engine.cfg.n_layer)];
        let scratch = &mut self.scratch;
        let chunk = self.chunk;
        let logits = engine.pool.install(|| {
            let mut last = Vec::new();
            let chunks: Vec<&[u32]> = prompt.chunks(chunk).collect();
            for (i, c) in chunks.iter().enumerate() {
                let seq_of = vec![0; c.len()];
                let want: Vec<usize> = if i + 1 == chunks.len() {
                    vec![c.len() - 1]
                } else {
                    Vec::new()
                };
                last = engine.forward(&mut seqs, c, &seq_of, &want, scratch)?;
            }
            Ok::<_, ModelError>(last)
        })?;
        let prefix = Arc::new(seqs.remove(0).own);
        self.seqs = (0..n)
            .map(|_| Seq {
                shared: Some(prefix.clone()),
                own: Kv::new(engine.cfg.n_layer),
            })
            .collect();
        Ok(vec![logits; n])
    }

    fn step(&mut self, tokens: &[u32]) -> Result<Vec<Vec<f32>>, ModelError> {
        if tokens.len() != self.seqs.len() {
            return Err(ModelError::Local(format!(
                "{} tokens for {} sequences",
                tokens.len(),
                self.seqs.len()
            )));
        }
        let engine = &self.engine;
        let seq_of: Vec<usize> = (0..tokens.len()).collect();
        let (seqs, scratch) = (&mut self.seqs, &mut self.scratch);
        let flat = engine
            .pool
            .install(|| engine.forward(seqs, tokens, &seq_of, &seq_of, scratch))?;
        Ok(flat.chunks_exact(engine.cfg.vocab).map(<[f32]>::to_vec).collect())
    }

    fn retain(&mut self, keep: &[bool]) -> bool {
        let mut i = 0;
        self.seqs.retain(|_| {
            let k = keep.get(i).copied().unwrap_or(true);
            i += 1;
            k
        });
        true
    }

    fn vocab_size(&self) -> usize {
        self.engine.cfg.vocab
    }

    fn context_len(&self) -> usize {
        self.engine.cfg.context_len
    }

    fn describe(&self) -> String {
        #[cfg(target_arch = "x86_64")]
        let kernels = simd::level_name();
        #[cfg(not(target_arch = "x86_64"))]
        let kernels = "scalar";
        format!(
            "engine {:?} {} layers, {} ({:.0} MB read per token, {} kernels, {} threads)",
            self.engine.cfg.arch,
            self.engine.cfg.n_layer,
            self.engine.formats(),
            self.engine.weight_bytes as f64 / 1e6,
            kernels,
            self.engine.threads()
        )
    }
}
