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
        let avx2 = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") && is_x86_feature_detected!("f16c");
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
    assert!(nb > 0 && w_blocks % nb == 0, "weight blocks {w_blocks} not a multiple of {nb}");
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

        /// One Q4 weight row against act rows `a0..a0 + R`.
        #[target_feature(enable = $feat)]
        #[inline]
        unsafe fn $q4_tile<const R: usize>(row: &[BlockQ4], nb: usize, acts: &QActs, a0: usize, out: &mut [f32]) {
            let k = acts.cols;
            let mut acc = [_mm256_setzero_ps(); R];
            let mut macc = [0f32; R];
            let mask = _mm_set1_epi8(0x0f);
            let xq = acts.qs.as_ptr();
            for (b, blk) in row.iter().enumerate() {
                // SAFETY: `blk.qs` is 16 bytes; act offsets are < rows * cols (checked).
                unsafe {
                    let dm = _mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(blk.dm[0]) | (i32::from(blk.dm[1]) << 16)));
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
                        let sc = dw * *acts.d.get_unchecked(ar * nb + b);
                        acc[r] = _mm256_fmadd_ps(p, _mm256_set1_ps(sc), acc[r]);
                        macc[r] += mw * *acts.s.get_unchecked(ar * nb + b);
                    }
                }
            }
            for r in 0..R {
                out[r] = hsum(acc[r]) + macc[r];
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

        /// One Q8 weight row against act rows `a0..a0 + R` (sign trick: |w| · (x · sign w)).
        #[target_feature(enable = $feat)]
        #[inline]
        unsafe fn $q8_tile<const R: usize>(row: &[BlockQ8], nb: usize, acts: &QActs, a0: usize, out: &mut [f32]) {
            let k = acts.cols;
            let mut acc = [_mm256_setzero_ps(); R];
            let xq = acts.qs.as_ptr();
            for (b, blk) in row.iter().enumerate() {
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
                        let sc = dw * *acts.d.get_unchecked(ar * nb + b);
                        acc[r] = _mm256_fmadd_ps(p, _mm256_set1_ps(sc), acc[r]);
                    }
                }
            }
            for r in 0..R {
                out[r] = hsum(acc[r]);
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

kernels!("avx2,fma,f16c", q4_rows_avx2, q4_tile_avx2, q8_rows_avx2, q8_tile_avx2, dot_avx2);
kernels!("avx2,fma,f16c,avxvnni", q4_rows_avxvnni, q4_tile_avxvnni, q8_rows_avxvnni, q8_tile_avxvnni, dot_avxvnni);
kernels!(
    "avx2,fma,f16c,avx512f,avx512vl,avx512vnni",
    q4_rows_avx512vnni,
    q4_tile_avx512vnni,
    q8_rows_avx512vnni,
    q8_tile_avx512vnni,
    dot_avx512vnni
);
