//! Quantized weight matrices and the matrix product the engine spends its time in.
//!
//! Weights keep their GGUF blocks of 32 values: `Q4` (llama.cpp's Q4_1: f16 scale `d`, f16
//! minimum `m`, 16 bytes of nibbles, value = `d * q + m`; Q4_0 loads as Q4 with `m = -8 d`,
//! exactly) and `Q8` (Q8_0: f16 scale, 32 signed bytes). Any other GGUF type is re-quantized to
//! Q8 at load. Activations are quantized per call to [`QActs`]: 32 signed bytes per block with
//! an f32 scale and the block's scaled sum (for the `m` term), as llama.cpp's Q8_1 does.
//!
//! [`matmul`] computes `out_t[r][a] = W[r] · x[a]` (output transposed: one contiguous run of act
//! rows per weight row, so threads own disjoint slices) with weight rows split across the rayon
//! pool. The dot products run in the widest kernel the CPU has ([`super::simd`], chosen at run
//! time) or the portable scalar code here, which is also the reference the kernels are tested
//! against.

use half::f16;
use rayon::prelude::*;

/// Values per quantization block.
pub(crate) const QK: usize = 32;

/// A Q4_1 block: `[d, m]` as f16 bits, then nibbles (`qs[j] & 15` is value `j`, `qs[j] >> 4`
/// is value `j + 16`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub(crate) struct BlockQ4 {
    pub dm: [u16; 2],
    pub qs: [u8; 16],
}

/// A Q8_0 block: f16 bits of `d`, then 32 signed values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub(crate) struct BlockQ8 {
    pub d: u16,
    pub qs: [i8; 32],
}

#[inline]
pub(crate) fn f16_to_f32(bits: u16) -> f32 {
    f16::from_bits(bits).to_f32()
}

#[inline]
fn f32_to_f16(x: f32) -> u16 {
    f16::from_f32(x).to_bits()
}

/// Weight blocks, row-major: `rows * cols / 32` blocks.
#[derive(Debug, Clone)]
pub(crate) enum QData {
    Q4(Vec<BlockQ4>),
    Q8(Vec<BlockQ8>),
}

/// A weight matrix `rows × cols` (`cols` a multiple of 32); row `r` is output feature `r`.
#[derive(Debug, Clone)]
pub(crate) struct QMatrix {
    pub rows: usize,
    pub cols: usize,
    pub data: QData,
}

impl QMatrix {
    pub(crate) fn blocks_per_row(&self) -> usize {
        self.cols / QK
    }

    /// Bytes the weights take (what a decode step reads).
    pub(crate) fn bytes(&self) -> usize {
        match &self.data {
            QData::Q4(b) => b.len() * 20,
            QData::Q8(b) => b.len() * 34,
        }
    }

    pub(crate) fn kind(&self) -> &'static str {
        match self.data {
            QData::Q4(_) => "Q4_1",
            QData::Q8(_) => "Q8_0",
        }
    }

    /// From GGUF Q4_1 bytes (20 per block).
    pub(crate) fn from_q4_1_bytes(rows: usize, cols: usize, bytes: &[u8]) -> Result<Self, String> {
        check_shape(rows, cols, bytes.len(), 20)?;
        let blocks = bytes
            .chunks_exact(20)
            .map(|c| BlockQ4 {
                dm: [u16::from_le_bytes([c[0], c[1]]), u16::from_le_bytes([c[2], c[3]])],
                qs: std::array::from_fn(|j| c[4 + j]),
            })
            .collect();
        Ok(QMatrix {
            rows,
            cols,
            data: QData::Q4(blocks),
        })
    }

    /// From GGUF Q4_0 bytes (18 per block: f16 `d`, nibbles, value = `d * (q - 8)`), as Q4 with
    /// `m = -8 d` (exact in f16).
    pub(crate) fn from_q4_0_bytes(rows: usize, cols: usize, bytes: &[u8]) -> Result<Self, String> {
        check_shape(rows, cols, bytes.len(), 18)?;
        let blocks = bytes
            .chunks_exact(18)
            .map(|c| {
                let d = u16::from_le_bytes([c[0], c[1]]);
                let m = f32_to_f16(-8.0 * f16_to_f32(d));
                BlockQ4 {
                    dm: [d, m],
                    qs: std::array::from_fn(|j| c[2 + j]),
                }
            })
            .collect();
        Ok(QMatrix {
            rows,
            cols,
            data: QData::Q4(blocks),
        })
    }

    /// From GGUF Q8_0 bytes (34 per block).
    pub(crate) fn from_q8_0_bytes(rows: usize, cols: usize, bytes: &[u8]) -> Result<Self, String> {
        check_shape(rows, cols, bytes.len(), 34)?;
        let blocks = bytes
            .chunks_exact(34)
            .map(|c| BlockQ8 {
                d: u16::from_le_bytes([c[0], c[1]]),
                qs: std::array::from_fn(|j| c[2 + j] as i8),
            })
            .collect();
        Ok(QMatrix {
            rows,
            cols,
            data: QData::Q8(blocks),
        })
    }

    /// Quantize f32 weights (row-major `rows × cols`) to Q8_0, as llama.cpp does.
    pub(crate) fn quantize_q8(rows: usize, cols: usize, values: &[f32]) -> Result<Self, String> {
        if cols % QK != 0 || values.len() != rows * cols {
            return Err(format!(
                "cannot quantize a {rows}x{cols} matrix from {} values",
                values.len()
            ));
        }
        let blocks = values
            .chunks_exact(QK)
            .map(|x| {
                let amax = x.iter().fold(0f32, |a, v| a.max(v.abs()));
                let d = amax / 127.0;
                let id = if d != 0.0 { 1.0 / d } else { 0.0 };
                BlockQ8 {
                    d: f32_to_f16(d),
                    qs: std::array::from_fn(|j| (x[j] * id).round() as i8),
                }
            })
            .collect();
        Ok(QMatrix {
            rows,
            cols,
            data: QData::Q8(blocks),
        })
    }

    /// Row `r` as f32 (embedding lookup).
    pub(crate) fn dequantize_row(&self, r: usize, out: &mut [f32]) {
        let nb = self.blocks_per_row();
        match &self.data {
            QData::Q4(b) => {
                for (blk, o) in b[r * nb..(r + 1) * nb].iter().zip(out.chunks_exact_mut(QK)) {
                    let (d, m) = (f16_to_f32(blk.dm[0]), f16_to_f32(blk.dm[1]));
                    for j in 0..16 {
                        o[j] = d * f32::from(blk.qs[j] & 15) + m;
                        o[j + 16] = d * f32::from(blk.qs[j] >> 4) + m;
                    }
                }
            }
            QData::Q8(b) => {
                for (blk, o) in b[r * nb..(r + 1) * nb].iter().zip(out.chunks_exact_mut(QK)) {
                    let d = f16_to_f32(blk.d);
                    for (o, q) in o.iter_mut().zip(blk.qs) {
                        *o = d * f32::from(q);
                    }
                }
            }
        }
    }
}

fn check_shape(rows: usize, cols: usize, len: usize, block_bytes: usize) -> Result<(), String> {
    if cols % QK != 0 {
        return Err(format!("row length {cols} is not a multiple of {QK}"));
    }
    if len != rows * cols / QK * block_bytes {
        return Err(format!(
            "{len} bytes for a {rows}x{cols} matrix of {block_bytes}-byte blocks"
        ));
    }
    Ok(())
}

/// Activations quantized to 8 bits per 32-value block.
#[derive(Debug, Clone, Default)]
pub(crate) struct QActs {
    pub rows: usize,
    pub cols: usize,
    /// `rows * cols` values.
    pub qs: Vec<i8>,
    /// Scale per block (`rows * cols / 32`).
    pub d: Vec<f32>,
    /// `d * Σ qs` per block.
    pub s: Vec<f32>,
}

impl QActs {
    /// Quantize `x` (`rows × cols`, row-major), reusing this buffer.
    pub(crate) fn quantize(&mut self, x: &[f32], rows: usize, cols: usize) {
        debug_assert_eq!(x.len(), rows * cols);
        debug_assert_eq!(cols % QK, 0);
        self.rows = rows;
        self.cols = cols;
        let nb = rows * cols / QK;
        self.qs.resize(rows * cols, 0);
        self.d.resize(nb, 0.0);
        self.s.resize(nb, 0.0);
        for (((xb, qb), d), s) in x
            .chunks_exact(QK)
            .zip(self.qs.chunks_exact_mut(QK))
            .zip(self.d.iter_mut())
            .zip(self.s.iter_mut())
        {
            let amax = xb.iter().fold(0f32, |a, v| a.max(v.abs()));
            let dd = amax / 127.0;
            let id = if dd != 0.0 { 1.0 / dd } else { 0.0 };
            let mut sum = 0i32;
            for (q, v) in qb.iter_mut().zip(xb) {
                let r = (v * id).round() as i32;
                *q = r as i8;
                sum += r;
            }
            *d = dd;
            *s = dd * sum as f32;
        }
    }
}

/// Scalar dot product of one Q4 weight row with one activation row (the reference).
pub(crate) fn dot_q4_scalar(w: &[BlockQ4], xq: &[i8], xd: &[f32], xs: &[f32]) -> f32 {
    let mut acc = 0f32;
    for (b, blk) in w.iter().enumerate() {
        let x = &xq[b * QK..(b + 1) * QK];
        let mut sum = 0i32;
        for j in 0..16 {
            sum += i32::from(blk.qs[j] & 15) * i32::from(x[j]) + i32::from(blk.qs[j] >> 4) * i32::from(x[j + 16]);
        }
        acc += f16_to_f32(blk.dm[0]) * xd[b] * sum as f32 + f16_to_f32(blk.dm[1]) * xs[b];
    }
    acc
}

/// Scalar dot product of one Q8 weight row with one activation row (the reference).
pub(crate) fn dot_q8_scalar(w: &[BlockQ8], xq: &[i8], xd: &[f32]) -> f32 {
    let mut acc = 0f32;
    for (b, blk) in w.iter().enumerate() {
        let x = &xq[b * QK..(b + 1) * QK];
        let sum: i32 = blk.qs.iter().zip(x).map(|(&a, &c)| i32::from(a) * i32::from(c)).sum();
        acc += f16_to_f32(blk.d) * xd[b] * sum as f32;
    }
    acc
}

/// `out[i * acts.rows + a] = W[rows.start + i] · x[a]` for a block of weight rows, all act rows.
fn rows_times_acts(w: &QMatrix, row0: usize, out: &mut [f32], acts: &QActs) {
    let nb = w.blocks_per_row();
    let m = acts.rows;
    let n_rows = out.len() / m;
    #[cfg(target_arch = "x86_64")]
    if super::simd::level().is_some() {
        match &w.data {
            QData::Q4(b) => super::simd::q4_rows(&b[row0 * nb..(row0 + n_rows) * nb], nb, acts, out),
            QData::Q8(b) => super::simd::q8_rows(&b[row0 * nb..(row0 + n_rows) * nb], nb, acts, out),
        }
        return;
    }
    for i in 0..n_rows {
        let r = row0 + i;
        for a in 0..m {
            let xq = &acts.qs[a * acts.cols..(a + 1) * acts.cols];
            let xd = &acts.d[a * nb..(a + 1) * nb];
            out[i * m + a] = match &w.data {
                QData::Q4(b) => dot_q4_scalar(&b[r * nb..(r + 1) * nb], xq, xd, &acts.s[a * nb..(a + 1) * nb]),
                QData::Q8(b) => dot_q8_scalar(&b[r * nb..(r + 1) * nb], xq, xd),
            };
        }
    }
}

/// `out_t` (`w.rows × acts.rows`) = `W · xᵀ`, weight rows split over the current rayon pool.
pub(crate) fn matmul(w: &QMatrix, acts: &QActs, out_t: &mut [f32]) {
    assert_eq!(w.cols, acts.cols, "matmul: {} columns against {}", w.cols, acts.cols);
    assert_eq!(out_t.len(), w.rows * acts.rows);
    let m = acts.rows;
    if m == 0 || w.rows == 0 {
        return;
    }
    let threads = rayon::current_num_threads().max(1);
    // Enough chunks to balance, few enough to keep scheduling cheap; a multiple of 4 rows.
    let target = (w.rows / (threads * 8)).max(4);
    let chunk_rows = target.div_ceil(4) * 4;
    if threads == 1 || w.rows <= chunk_rows {
        rows_times_acts(w, 0, out_t, acts);
        return;
    }
    out_t.par_chunks_mut(chunk_rows * m).enumerate().for_each(|(i, out)| {
        rows_times_acts(w, i * chunk_rows, out, acts);
    });
}

/// Several matrices applied to the same activations in one parallel pass (fused Q/K/V or
/// gate/up projections whose GGUF types may differ). `outs[i]` is `parts[i].rows × acts.rows`.
pub(crate) fn matmul_many(parts: &[&QMatrix], acts: &QActs, outs: &mut [&mut [f32]]) {
    let m = acts.rows;
    if m == 0 {
        return;
    }
    let threads = rayon::current_num_threads().max(1);
    let total: usize = parts.iter().map(|p| p.rows).sum();
    let chunk_rows = ((total / (threads * 8)).max(4)).div_ceil(4) * 4;
    let mut work: Vec<(&QMatrix, usize, &mut [f32])> = Vec::new();
    for (p, out) in parts.iter().zip(outs.iter_mut()) {
        assert_eq!(p.cols, acts.cols);
        assert_eq!(out.len(), p.rows * m);
        for (i, chunk) in out.chunks_mut(chunk_rows * m).enumerate() {
            work.push((p, i * chunk_rows, chunk));
        }
    }
    if threads == 1 {
        for (p, row0, out) in work {
            rows_times_acts(p, row0, out, acts);
        }
    } else {
        work.into_par_iter()
            .for_each(|(p, row0, out)| rows_times_acts(p, row0, out, acts));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn random(n: usize, seed: u64) -> Vec<f32> {
        let mut r = Rng::seed_from_u64(seed);
        (0..n).map(|_| (r.next_f64() as f32 - 0.5) * 2.0).collect()
    }

    fn q4_matrix(rows: usize, cols: usize, seed: u64) -> QMatrix {
        let mut r = Rng::seed_from_u64(seed);
        let blocks = (0..rows * cols / QK)
            .map(|_| BlockQ4 {
                dm: [
                    f32_to_f16(r.next_f64() as f32 * 0.1),
                    f32_to_f16(-(r.next_f64() as f32) * 0.5),
                ],
                qs: std::array::from_fn(|_| (r.next_u64() & 0xff) as u8),
            })
            .collect();
        QMatrix {
            rows,
            cols,
            data: QData::Q4(blocks),
        }
    }

    fn reference(w: &QMatrix, x: &[f32], m: usize) -> Vec<f32> {
        // Dequantized weights against unquantized activations.
        let mut out = vec![0f32; w.rows * m];
        let mut row = vec![0f32; w.cols];
        for r in 0..w.rows {
            w.dequantize_row(r, &mut row);
            for a in 0..m {
                out[r * m + a] = row
                    .iter()
                    .zip(&x[a * w.cols..(a + 1) * w.cols])
                    .map(|(p, q)| p * q)
                    .sum();
            }
        }
        out
    }

    /// Every kernel (SIMD when the CPU has it, else scalar), on odd shapes, against f32 maths.
    #[test]
    fn matmul_matches_dequantized_reference() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        for &(rows, cols, m) in &[(1, 32, 1), (7, 64, 3), (36, 576, 5), (130, 96, 9), (64, 1536, 1)] {
            let x = random(m * cols, 3);
            let mut acts = QActs::default();
            acts.quantize(&x, m, cols);
            let wq4 = q4_matrix(rows, cols, rows as u64);
            let wq8 = QMatrix::quantize_q8(rows, cols, &random(rows * cols, 9)).unwrap();
            for w in [&wq4, &wq8] {
                let want = reference(w, &x, m);
                let mut got = vec![0f32; rows * m];
                pool.install(|| matmul(w, &acts, &mut got));
                for (g, e) in got.iter().zip(&want) {
                    let tol = 0.02 * (cols as f32).sqrt();
                    assert!((g - e).abs() <= tol, "{} {rows}x{cols} m={m}: {g} vs {e}", w.kind());
                }
                // Scalar reference, bit for bit? No: SIMD sums in another order. Close, though.
                for r in 0..rows {
                    for a in 0..m {
                        let nb = w.blocks_per_row();
                        let xq = &acts.qs[a * cols..(a + 1) * cols];
                        let xd = &acts.d[a * nb..(a + 1) * nb];
                        let s = match &w.data {
                            QData::Q4(b) => {
                                dot_q4_scalar(&b[r * nb..(r + 1) * nb], xq, xd, &acts.s[a * nb..(a + 1) * nb])
                            }
                            QData::Q8(b) => dot_q8_scalar(&b[r * nb..(r + 1) * nb], xq, xd),
                        };
                        let g = got[r * m + a];
                        assert!(
                            (g - s).abs() <= 1e-3 * (1.0 + s.abs()),
                            "{} scalar {s} vs {g}",
                            w.kind()
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn q4_0_loads_exactly() {
        // One Q4_0 block: d = 0.5, nibbles 0..15 → values (q - 8) / 2.
        let mut bytes = f32_to_f16(0.5).to_le_bytes().to_vec();
        bytes.extend((0..16u8).map(|j| j | (15 - j) << 4));
        let w = QMatrix::from_q4_0_bytes(1, 32, &bytes).unwrap();
        let mut row = vec![0f32; 32];
        w.dequantize_row(0, &mut row);
        for j in 0..16 {
            assert_eq!(row[j], (j as f32 - 8.0) * 0.5);
            assert_eq!(row[j + 16], (15.0 - j as f32 - 8.0) * 0.5);
        }
        assert!(QMatrix::from_q4_0_bytes(2, 32, &bytes).is_err());
    }

    #[test]
    fn many_equals_one_by_one() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let (cols, m) = (128, 3);
        let a = q4_matrix(40, cols, 1);
        let b = QMatrix::quantize_q8(24, cols, &random(24 * cols, 2)).unwrap();
        let mut acts = QActs::default();
        acts.quantize(&random(m * cols, 5), m, cols);
        let (mut oa, mut ob) = (vec![0f32; 40 * m], vec![0f32; 24 * m]);
        pool.install(|| matmul_many(&[&a, &b], &acts, &mut [&mut oa, &mut ob]));
        let (mut ea, mut eb) = (vec![0f32; 40 * m], vec![0f32; 24 * m]);
        pool.install(|| {
            matmul(&a, &acts, &mut ea);
            matmul(&b, &acts, &mut eb);
        });
        assert_eq!(oa, ea);
        assert_eq!(ob, eb);
    }
}
