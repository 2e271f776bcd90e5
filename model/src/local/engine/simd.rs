//! x86-64 kernels for the quantized dot products, chosen at run time (the build stays portable:
//! no `target-cpu=native`).
//!
//! Levels: AVX2+FMA+F16C (`maddubs`/`madd` for the 8-bit products), and the same with VNNI
//! (`vpdpbusd`, from AVX-VNNI or AVX512-VNNI+VL) where the CPU has it. `AGENTLESS_SIMD=scalar`
//! or `=avx2` forces a lower level (tests and benchmarks).
//!
//! This is the one module of the crate with `unsafe` code: intrinsics taking pointers, and
//! calls into `#[target_feature]` functions after [`level`] has checked that the CPU has the
//! features. Every dot product of a weight row with an activation row is computed by the same
//! sequence of operations whatever the batch size, so batched and single-row results are
//! bit-identical.
#![allow(unsafe_code)]
#![allow(clippy::incompatible_msrv)]

use std::arch::x86_64::*;
use std::sync::OnceLock;

use super::quant::{BlockQ4, BlockQ8, QActs, QK};

/// The kernel family in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    Avx2,
    AvxVnni,
    Avx512Vnni,
}

/// The best level this CPU supports (`None`: use the scalar code), decided once.
pub(crate) fn level() -> Option<Level> {
    static LEVEL: OnceLock<Option<Level>> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        let forced = std::env::var("AGENTLESS_SIMD").unwrap_or_default().to_ascii_lowercase();
        if forced == "scalar" || forced == "off" {
            return None;
        }
        let avx2 =
            is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") && is_x86_feature_detected!("f16c");
        if !avx2 {
            return None;
        }
        if forced == "avx2" {
            return Some(Level::Avx2);
        }
        if is_x86_feature_detected!("avxvnni") {
            Some(Level::AvxVnni)
        } else if is_x86_feature_detected!("avx512vnni") && is_x86_feature_detected!("avx512vl") {
            Some(Level::Avx512Vnni)
        } else {
            Some(Level::Avx2)
        }
    })
}

/// Human-readable name of the level in use.
pub(crate) fn level_name() -> &'static str {
    match level() {
        None => "scalar",
        Some(Level::Avx2) => "avx2",
        Some(Level::AvxVnni) => "avx-vnni",
        Some(Level::Avx512Vnni) => "avx512-vnni",
    }
}

/// `out[i * m + a] = W[i] · x[a]` for the Q4 weight rows in `w` (`nb` blocks each).
pub(crate) fn q4_rows(w: &[BlockQ4], nb: usize, acts: &QActs, out: &mut [f32]) {
    check(w.len(), nb, acts, out);
    // SAFETY: `level()` returned this level only after detecting its features on this CPU;
    // `check` verified every length the kernels index with raw pointers.
    unsafe {
        match level() {
            Some(Level::AvxVnni) => q4_rows_avxvnni(w, nb, acts, out),
            Some(Level::Avx512Vnni) => q4_rows_avx512vnni(w, nb, acts, out),
            Some(Level::Avx2) => q4_rows_avx2(w, nb, acts, out),
            None => unreachable!("q4_rows without SIMD support"),
        }
    }
}

/// `out[i * m + a] = W[i] · x[a]` for the Q8 weight rows in `w` (`nb` blocks each).
pub(crate) fn q8_rows(w: &[BlockQ8], nb: usize, acts: &QActs, out: &mut [f32]) {
    check(w.len(), nb, acts, out);
    // SAFETY: as in `q4_rows`.
    unsafe {
        match level() {
            Some(Level::AvxVnni) => q8_rows_avxvnni(w, nb, acts, out),
            Some(Level::Avx512Vnni) => q8_rows_avx512vnni(w, nb, acts, out),
            Some(Level::Avx2) => q8_rows_avx2(w, nb, acts, out),
            None => unreachable!("q8_rows without SIMD support"),
        }
    }
}

fn check(w_blocks: usize, nb: usize, acts: &QActs, out: &[f32]) {
    assert!(
        nb > 0 && w_blocks % nb == 0,
        "weight blocks {w_blocks} not a multiple of {nb}"
    );
    assert_eq!(acts.cols, nb * QK, "activation width");
    assert_eq!(acts.qs.len(), acts.rows * acts.cols, "activation values");
    assert_eq!(acts.d.len(), acts.rows * nb, "activation scales");
    assert_eq!(acts.s.len(), acts.rows * nb, "activation sums");
    assert_eq!(out.len(), (w_blocks / nb) * acts.rows, "output size");
}

#[target_feature(enable = "avx")]
#[inline]
fn hsum(v: __m256) -> f32 {
    {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_movehdup_ps(s));
        _mm_cvtss_f32(s)
    }
}

/// Stamp out the kernels of one level. `$dot(u8s, i8s) -> __m256i` sums adjacent groups of four
/// byte products into eight i32 lanes.
macro_rules! kernels {
    ($feat:literal, $q4:ident, $q4_tile:ident, $q8:ident, $q8_tile:ident, $dot:ident) => {
        #[target_feature(enable = $feat)]
        unsafe fn $q4(w: &[BlockQ4], nb: usize, acts: &QActs, out: &mut [f32]) {
            let m = acts.rows;
            for (i, row) in w.chunks_exact(nb).enumerate() {
                let o = &mut out[i * m..(i + 1) * m];
                let mut a = 0;
                while a + 4 <= m {
                    // SAFETY: features enabled on this function; bounds checked by `check`.
                    unsafe { $q4_tile::<4>(row, nb, acts, a, &mut o[a..a + 4]) };
                    a += 4;
                }
                while a < m {
                    // SAFETY: as above.
                    unsafe { $q4_tile::<1>(row, nb, acts, a, &mut o[a..a + 1]) };
                    a += 1;
                }
            }
        }

        /// One Q4 weight row against act rows `a0..a0 + R`. Blocks alternate between two
        /// accumulators per act row (two independent FMA chains), whatever `R` is.
        #[target_feature(enable = $feat)]
        #[inline]
        unsafe fn $q4_tile<const R: usize>(row: &[BlockQ4], nb: usize, acts: &QActs, a0: usize, out: &mut [f32]) {
            let k = acts.cols;
            let mut acc0 = [_mm256_setzero_ps(); R];
            let mut acc1 = [_mm256_setzero_ps(); R];
            let mut macc0 = [0f32; R];
            let mut macc1 = [0f32; R];
            let mask = _mm_set1_epi8(0x0f);
            let xq = acts.qs.as_ptr();
            let (xd, xs) = (acts.d.as_ptr(), acts.s.as_ptr());
            // One block into one accumulator set.
            macro_rules! block {
                ($b:expr, $acc:ident, $macc:ident) => {{
                    let b = $b;
                    let blk = &row[b];
                    // SAFETY: `blk.qs` is 16 bytes; act offsets are < rows * cols and scale
                    // offsets < rows * nb (checked by `check`).
                    unsafe {
                        let dm = _mm_cvtph_ps(_mm_cvtsi32_si128(
                            i32::from(blk.dm[0]) | (i32::from(blk.dm[1]) << 16),
                        ));
                        let dw = _mm_cvtss_f32(dm);
                        let mw = _mm_cvtss_f32(_mm_movehdup_ps(dm));
                        let raw = _mm_loadu_si128(blk.qs.as_ptr() as *const __m128i);
                        let lo = _mm_and_si128(raw, mask);
                        let hi = _mm_and_si128(_mm_srli_epi16(raw, 4), mask);
                        let wv = _mm256_set_m128i(hi, lo);
                        for r in 0..R {
                            let ar = a0 + r;
                            let x = _mm256_loadu_si256(xq.add(ar * k + b * QK) as *const __m256i);
                            let p = _mm256_cvtepi32_ps($dot!(wv, x));
                            let sc = dw * *xd.add(ar * nb + b);
                            $acc[r] = _mm256_fmadd_ps(p, _mm256_set1_ps(sc), $acc[r]);
                            $macc[r] += mw * *xs.add(ar * nb + b);
                        }
                    }
                }};
            }
            let mut b = 0;
            while b + 2 <= nb {
                block!(b, acc0, macc0);
                block!(b + 1, acc1, macc1);
                b += 2;
            }
            if b < nb {
                block!(b, acc0, macc0);
            }
            for r in 0..R {
                out[r] = hsum(_mm256_add_ps(acc0[r], acc1[r])) + (macc0[r] + macc1[r]);
            }
        }

        #[target_feature(enable = $feat)]
        unsafe fn $q8(w: &[BlockQ8], nb: usize, acts: &QActs, out: &mut [f32]) {
            let m = acts.rows;
            for (i, row) in w.chunks_exact(nb).enumerate() {
                let o = &mut out[i * m..(i + 1) * m];
                let mut a = 0;
                while a + 4 <= m {
                    // SAFETY: features enabled on this function; bounds checked by `check`.
                    unsafe { $q8_tile::<4>(row, nb, acts, a, &mut o[a..a + 4]) };
                    a += 4;
                }
                while a < m {
                    // SAFETY: as above.
                    unsafe { $q8_tile::<1>(row, nb, acts, a, &mut o[a..a + 1]) };
                    a += 1;
                }
            }
        }

        /// One Q8 weight row against act rows `a0..a0 + R` (sign trick: |w| · (x · sign w)),
        /// two accumulators per act row as in the Q4 tile.
        #[target_feature(enable = $feat)]
        #[inline]
        unsafe fn $q8_tile<const R: usize>(row: &[BlockQ8], nb: usize, acts: &QActs, a0: usize, out: &mut [f32]) {
            let k = acts.cols;
            let mut acc0 = [_mm256_setzero_ps(); R];
            let mut acc1 = [_mm256_setzero_ps(); R];
            let xq = acts.qs.as_ptr();
            let xd = acts.d.as_ptr();
            macro_rules! block {
                ($b:expr, $acc:ident) => {{
                    let b = $b;
                    let blk = &row[b];
                    // SAFETY: `blk.qs` is 32 bytes; act offsets are < rows * cols (checked).
                    unsafe {
                        let dw = _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(blk.d))));
                        let wv = _mm256_loadu_si256(blk.qs.as_ptr() as *const __m256i);
                        let aw = _mm256_sign_epi8(wv, wv);
                        for r in 0..R {
                            let ar = a0 + r;
                            let x = _mm256_loadu_si256(xq.add(ar * k + b * QK) as *const __m256i);
                            let sx = _mm256_sign_epi8(x, wv);
                            let p = _mm256_cvtepi32_ps($dot!(aw, sx));
                            let sc = dw * *xd.add(ar * nb + b);
                            $acc[r] = _mm256_fmadd_ps(p, _mm256_set1_ps(sc), $acc[r]);
                        }
                    }
                }};
            }
            let mut b = 0;
            while b + 2 <= nb {
                block!(b, acc0);
                block!(b + 1, acc1);
                b += 2;
            }
            if b < nb {
                block!(b, acc0);
            }
            for r in 0..R {
                out[r] = hsum(_mm256_add_ps(acc0[r], acc1[r]));
            }
        }
    };
}

// `$dot!(u8s, i8s)`: eight i32 lanes, each the sum of four adjacent byte products. Macros, not
// functions, so that they expand inside the `#[target_feature]` kernels.
//
// AVX2: maddubs saturates at i16, which never happens here: weights are 4-bit (or |w| <= 127
// for Q8, after the sign trick) and activations |x| <= 127, so a pair sums to at most 32258.
macro_rules! dot_avx2 {
    ($u:expr, $s:expr) => {
        _mm256_madd_epi16(_mm256_maddubs_epi16($u, $s), _mm256_set1_epi16(1))
    };
}
macro_rules! dot_avxvnni {
    ($u:expr, $s:expr) => {
        _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), $u, $s)
    };
}
macro_rules! dot_avx512vnni {
    ($u:expr, $s:expr) => {
        _mm256_dpbusd_epi32(_mm256_setzero_si256(), $u, $s)
    };
}

// The VNNI intrinsics are stable since Rust 1.89 (the workspace's let-chains need 1.88).
kernels!(
    "avx2,fma,f16c",
    q4_rows_avx2,
    q4_tile_avx2,
    q8_rows_avx2,
    q8_tile_avx2,
    dot_avx2
);
kernels!(
    "avx2,fma,f16c,avxvnni",
    q4_rows_avxvnni,
    q4_tile_avxvnni,
    q8_rows_avxvnni,
    q8_tile_avxvnni,
    dot_avxvnni
);
kernels!(
    "avx2,fma,f16c,avx512f,avx512vl,avx512vnni",
    q4_rows_avx512vnni,
    q4_tile_avx512vnni,
    q8_rows_avx512vnni,
    q8_tile_avx512vnni,
    dot_avx512vnni
);

/// `exp(x)` for 8 lanes (Cephes-style: x = n ln2 + r, a degree-6 polynomial for e^r, 2^n put
/// into the exponent). Relative error about 2e-7 over [-87, 88]; below -87 the result is 0.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn exp256(x: __m256) -> __m256 {
    let x = _mm256_min_ps(x, _mm256_set1_ps(88.0));
    let underflow = _mm256_cmp_ps(x, _mm256_set1_ps(-87.0), _CMP_LT_OQ);
    let x = _mm256_max_ps(x, _mm256_set1_ps(-87.0));
    let n = _mm256_round_ps(
        _mm256_mul_ps(x, _mm256_set1_ps(std::f32::consts::LOG2_E)),
        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC,
    );
    // r = x - n ln2, with ln2 split in two for precision.
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693_145_75), x);
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.428_606_8e-6), r);
    let mut p = _mm256_set1_ps(1.987_569_1e-4);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.398_199_9e-3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.333_452e-3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.166_579_6e-2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.166_666_66));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r);
    p = _mm256_add_ps(p, _mm256_set1_ps(1.0));
    let pow2n = _mm256_castsi256_ps(_mm256_slli_epi32(
        _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)),
        23,
    ));
    _mm256_andnot_ps(underflow, _mm256_mul_ps(p, pow2n))
}

/// Whether the vector attention / activation kernels can run.
pub(crate) fn has_avx2() -> bool {
    level().is_some()
}

/// One query head against the keys and values of `runs` (see `Seq::runs`): softmax-weighted
/// sum of the values into `out`. `off`: the KV head's offset in a cached row of `kvd` floats.
/// Requires `has_avx2()`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn attend(
    q: &[f32],
    runs: &[(&[f32], &[f32], usize); 2],
    off: usize,
    kvd: usize,
    scale: f32,
    scores: &mut Vec<f32>,
    out: &mut [f32],
) {
    let hd = q.len();
    assert!(hd % 8 == 0 && out.len() == hd && off + hd <= kvd, "attention shapes");
    for (k, v, count) in runs {
        assert!(k.len() >= count * kvd && v.len() >= count * kvd, "attention cache");
    }
    assert!(has_avx2());
    // SAFETY: AVX2/FMA checked just above; every pointer offset is within the slices checked above.
    unsafe { attend_avx2(q, runs, off, kvd, scale, scores, out) }
}

#[target_feature(enable = "avx2,fma")]
unsafe fn attend_avx2(
    q: &[f32],
    runs: &[(&[f32], &[f32], usize); 2],
    off: usize,
    kvd: usize,
    scale: f32,
    scores: &mut Vec<f32>,
    out: &mut [f32],
) {
    let hd = q.len();
    scores.clear();
    let mut mx = f32::NEG_INFINITY;
    let qp = q.as_ptr();
    for &(keys, _, count) in runs {
        for j in 0..count {
            // SAFETY: j * kvd + off + hd <= count * kvd <= keys.len().
            let kp = unsafe { keys.as_ptr().add(j * kvd + off) };
            let (mut a0, mut a1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
            let mut c = 0;
            while c + 16 <= hd {
                // SAFETY: c + 16 <= hd.
                unsafe {
                    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(qp.add(c)), _mm256_loadu_ps(kp.add(c)), a0);
                    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(qp.add(c + 8)), _mm256_loadu_ps(kp.add(c + 8)), a1);
                }
                c += 16;
            }
            if c < hd {
                // SAFETY: hd is a multiple of 8, so c + 8 == hd.
                unsafe { a0 = _mm256_fmadd_ps(_mm256_loadu_ps(qp.add(c)), _mm256_loadu_ps(kp.add(c)), a0) };
            }
            let sc = hsum(_mm256_add_ps(a0, a1)) * scale;
            mx = mx.max(sc);
            scores.push(sc);
        }
    }
    let n = scores.len();
    let sp = scores.as_mut_ptr();
    let mut sum = _mm256_setzero_ps();
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: i + 8 <= n = scores.len().
        unsafe {
            let e = exp256(_mm256_sub_ps(_mm256_loadu_ps(sp.add(i)), _mm256_set1_ps(mx)));
            _mm256_storeu_ps(sp.add(i), e);
            sum = _mm256_add_ps(sum, e);
        }
        i += 8;
    }
    let mut total = hsum(sum);
    for s in &mut scores[i..] {
        *s = (*s - mx).exp();
        total += *s;
    }
    let inv = 1.0 / total;
    // Values: up to 64 output dims in registers at a time.
    let mut d0 = 0;
    while d0 < hd {
        let width = (hd - d0).min(64) / 8;
        let mut acc = [_mm256_setzero_ps(); 8];
        let mut p = 0usize;
        for &(_, vals, count) in runs {
            for j in 0..count {
                // SAFETY: p < n; j * kvd + off + d0 + 8 * width <= count * kvd <= vals.len().
                unsafe {
                    let w = _mm256_set1_ps(*scores.get_unchecked(p));
                    let vp = vals.as_ptr().add(j * kvd + off + d0);
                    for (c, a) in acc.iter_mut().enumerate().take(width) {
                        *a = _mm256_fmadd_ps(w, _mm256_loadu_ps(vp.add(8 * c)), *a);
                    }
                }
                p += 1;
            }
        }
        for (c, a) in acc.iter().enumerate().take(width) {
            // SAFETY: d0 + 8 * c + 8 <= hd = out.len().
            unsafe { _mm256_storeu_ps(out.as_mut_ptr().add(d0 + 8 * c), _mm256_mul_ps(*a, _mm256_set1_ps(inv))) };
        }
        d0 += 64;
    }
}

/// `g[i] = silu(g[i]) * u[i]`. Requires `has_avx2()`.
pub(crate) fn silu_mul(g: &mut [f32], u: &[f32]) {
    assert_eq!(g.len(), u.len());
    assert!(has_avx2());
    // SAFETY: AVX2/FMA checked; lengths equal.
    unsafe { silu_mul_avx2(g, u) }
}

#[target_feature(enable = "avx2,fma")]
unsafe fn silu_mul_avx2(g: &mut [f32], u: &[f32]) {
    let n = g.len();
    let (gp, up) = (g.as_mut_ptr(), u.as_ptr());
    let one = _mm256_set1_ps(1.0);
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: i + 8 <= n for both slices.
        unsafe {
            let x = _mm256_loadu_ps(gp.add(i));
            let sig = _mm256_div_ps(one, _mm256_add_ps(one, exp256(_mm256_sub_ps(_mm256_setzero_ps(), x))));
            _mm256_storeu_ps(
                gp.add(i),
                _mm256_mul_ps(_mm256_mul_ps(x, sig), _mm256_loadu_ps(up.add(i))),
            );
        }
        i += 8;
    }
    for j in i..n {
        g[j] = g[j] / (1.0 + (-g[j]).exp()) * u[j];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_exp_is_accurate() {
        if !has_avx2() {
            return;
        }
        let xs: Vec<f32> = (-1000..=975).map(|i| i as f32 * 0.09).collect();
        for chunk in xs.chunks_exact(8) {
            let mut out = [0f32; 8];
            // SAFETY: AVX2 checked; 8 floats in and out.
            unsafe { _mm256_storeu_ps(out.as_mut_ptr(), exp256(_mm256_loadu_ps(chunk.as_ptr()))) };
            for (x, y) in chunk.iter().zip(out) {
                let e = x.exp();
                if *x < -87.0 {
                    assert!(y < 1e-37, "{x}: {y}");
                } else {
                    assert!(((y - e) / e).abs() < 1e-6, "{x}: {y} vs {e}");
                }
            }
        }
    }

    #[test]
    fn silu_matches_scalar() {
        if !has_avx2() {
            return;
        }
        let g0: Vec<f32> = (0..37).map(|i| i as f32 * 0.7 - 12.0).collect();
        let u: Vec<f32> = (0..37).map(|i| (i as f32 * 0.3).sin()).collect();
        let mut g = g0.clone();
        silu_mul(&mut g, &u);
        for i in 0..37 {
            let want = g0[i] / (1.0 + (-g0[i]).exp()) * u[i];
            assert!(
                (g[i] - want).abs() <= 1e-5 * (1.0 + want.abs()),
                "{i}: {} vs {want}",
                g[i]
            );
        }
    }
}
