//! A port of CPython 3.11's `difflib.SequenceMatcher` (with `isjunk=None`) and
//! `difflib.unified_diff`, with CPython's behaviour as the specification: the same longest
//! matching block (earliest in `a`, then earliest in `b`), the same recursion, the same
//! "popular element" heuristic when `autojunk` is on (elements of `b` that occur more than
//! `len(b) // 100 + 1` times, for `len(b) >= 200`, cannot start a match but can extend one),
//! the same opcodes, groups and hunk ranges. Ratios are bit-identical `f64`s.
//!
//! Elements are interned to dense ids first, so the inner loop of `find_longest_match` works
//! on arrays instead of hash maps; the results do not change (see the parity tests in
//! `reward/tests/difflib_parity.rs`, which compare against CPython itself).

mod unified;

use std::collections::HashMap;
use std::hash::Hash;

pub use unified::{format_range_unified, unified_diff, unified_diff_body};

/// An element of `a` that does not occur in `b`.
const ABSENT: u32 = u32::MAX;

/// `difflib.Match`: `a[a..a + size] == b[b..b + size]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Match {
    pub a: usize,
    pub b: usize,
    pub size: usize,
}

/// The tag of an opcode, as difflib names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tag {
    Replace,
    Delete,
    Insert,
    Equal,
}

impl Tag {
    pub fn as_str(self) -> &'static str {
        match self {
            Tag::Replace => "replace",
            Tag::Delete => "delete",
            Tag::Insert => "insert",
            Tag::Equal => "equal",
        }
    }
}

/// One `(tag, i1, i2, j1, j2)` tuple of `get_opcodes()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Opcode {
    pub tag: Tag,
    pub i1: usize,
    pub i2: usize,
    pub j1: usize,
    pub j2: usize,
}

/// `difflib.SequenceMatcher(None, a, b, autojunk)`, over interned elements.
///
/// Sequences are limited to `u32::MAX - 1` elements.
#[derive(Debug, Clone)]
pub struct SequenceMatcher {
    a: Vec<u32>,
    b: Vec<u32>,
    /// `b2j` as a compressed table: the positions of id `x` in `b` are
    /// `positions[offsets[x]..offsets[x + 1]]`, ascending; empty for popular elements.
    offsets: Vec<u32>,
    positions: Vec<u32>,
    /// Scratch for `find_longest_match`: cell `j + 1` holds `(row stamp << 32) | k`, the
    /// length of the match ending at `b[j]` on the row with that stamp.
    cells: Vec<u64>,
    stamp: u32,
    matching_blocks: Option<Vec<Match>>,
}

impl SequenceMatcher {
    /// `SequenceMatcher(None, a, b, autojunk=autojunk)` for any hashable elements.
    pub fn new<T: Eq + Hash>(a: &[T], b: &[T], autojunk: bool) -> Self {
        let mut ids: HashMap<&T, u32> = HashMap::with_capacity(b.len());
        let b_ids: Vec<u32> = b
            .iter()
            .map(|x| {
                let next = to_u32(ids.len());
                *ids.entry(x).or_insert(next)
            })
            .collect();
        let a_ids = a.iter().map(|x| ids.get(x).copied().unwrap_or(ABSENT)).collect();
        Self::from_ids(a_ids, b_ids, ids.len(), autojunk)
    }

    /// `SequenceMatcher(None, a, b, autojunk=autojunk)` over the code points of two strings
    /// (what Python does with two `str`).
    pub fn from_chars(a: &str, b: &str, autojunk: bool) -> Self {
        let mut ascii = [ABSENT; 128];
        let mut other: HashMap<char, u32> = HashMap::new();
        let mut next = 0u32;
        let mut b_ids = Vec::with_capacity(b.len());
        for c in b.chars() {
            let slot = if c.is_ascii() {
                &mut ascii[c as usize]
            } else {
                other.entry(c).or_insert(ABSENT)
            };
            if *slot == ABSENT {
                *slot = next;
                next += 1;
            }
            b_ids.push(*slot);
        }
        let a_ids = a
            .chars()
            .map(|c| {
                if c.is_ascii() {
                    ascii[c as usize]
                } else {
                    other.get(&c).copied().unwrap_or(ABSENT)
                }
            })
            .collect();
        Self::from_ids(a_ids, b_ids, next as usize, autojunk)
    }

    /// Build from interned sequences: equal elements have equal ids, `b`'s ids are
    /// `0..alphabet`, and an element of `a` absent from `b` has the id `u32::MAX`.
    fn from_ids(a: Vec<u32>, b: Vec<u32>, alphabet: usize, autojunk: bool) -> Self {
        let n = b.len();
        assert!(
            a.len() < u32::MAX as usize && n < u32::MAX as usize,
            "sequences are limited to u32::MAX - 1 elements"
        );
        // __chain_b: positions of every element of b, then drop the popular ones.
        let mut counts = vec![0u32; alphabet + 1];
        for &x in &b {
            counts[x as usize] += 1;
        }
        if autojunk && n >= 200 {
            let ntest = n / 100 + 1;
            for c in counts.iter_mut() {
                if *c as usize > ntest {
                    *c = 0;
                }
            }
        }
        let mut offsets = Vec::with_capacity(alphabet + 1);
        let mut total = 0u32;
        for &c in &counts[..alphabet] {
            offsets.push(total);
            total += c;
        }
        offsets.push(total);
        let mut fill = offsets.clone();
        let mut positions = vec![0u32; total as usize];
        for (j, &x) in b.iter().enumerate() {
            let x = x as usize;
            if counts[x] > 0 {
                positions[fill[x] as usize] = to_u32(j);
                fill[x] += 1;
            }
        }
        SequenceMatcher {
            cells: vec![0; n + 1],
            stamp: 0,
            a,
            b,
            offsets,
            positions,
            matching_blocks: None,
        }
    }

    pub fn len_a(&self) -> usize {
        self.a.len()
    }

    pub fn len_b(&self) -> usize {
        self.b.len()
    }

    /// Make sure `rows` more stamps fit before the counter wraps; if not, clear the cells and
    /// start again (between calls only, so no run is cut in the middle of a call).
    fn reserve_stamps(&mut self, rows: usize) {
        if u64::from(self.stamp) + rows as u64 >= u64::from(u32::MAX) {
            self.cells.iter_mut().for_each(|c| *c = 0);
            self.stamp = 0;
        }
    }

    /// A stamp never used before for a row (see [`Self::reserve_stamps`]).
    fn next_stamp(&mut self) -> u64 {
        self.stamp += 1;
        u64::from(self.stamp)
    }

    /// `find_longest_match(alo, ahi, blo, bhi)`: the longest block of `a[alo..ahi]` equal to
    /// one in `b[blo..bhi]` that contains no popular element, earliest in `a` then in `b`,
    /// then extended on both sides with equal elements (popular ones included).
    pub fn find_longest_match(&mut self, alo: usize, ahi: usize, blo: usize, bhi: usize) -> Match {
        let (mut besti, mut bestj, mut bestsize) = (alo, blo, 0usize);
        let (blo32, bhi32) = (to_u32(blo), to_u32(bhi));
        self.reserve_stamps(ahi - alo + 1);
        let mut prev = self.next_stamp();
        for i in alo..ahi {
            let cur = self.next_stamp();
            let x = self.a[i];
            if x != ABSENT {
                let (start, end) = (self.offsets[x as usize] as usize, self.offsets[x as usize + 1] as usize);
                let list = &self.positions[start..end];
                let lo = list.partition_point(|&j| j < blo32);
                let hi = list.partition_point(|&j| j < bhi32);
                // Descending j so that cell j (the match ending at b[j - 1] on the previous
                // row) is read before this row overwrites it. CPython walks ascending and keeps
                // the first j reaching a new maximum; `>=` here keeps the smallest such j.
                // Only lengths above the best so far can matter, which is rare: testing that
                // first keeps the common path free of a dependency chain.
                let threshold = to_u32(bestsize);
                let (mut rowbest, mut rowj) = (0u32, 0u32);
                let cells = &mut self.cells[..=bhi];
                for &j in list[lo..hi].iter().rev() {
                    let j = j as usize;
                    if j >= bhi {
                        break; // never: list[lo..hi] is below bhi (lets the compiler drop checks)
                    }
                    let before = cells[j];
                    let k = if before >> 32 == prev { (before as u32) + 1 } else { 1 };
                    cells[j + 1] = (cur << 32) | u64::from(k);
                    if k > threshold && k >= rowbest {
                        rowbest = k;
                        rowj = to_u32(j);
                    }
                }
                if rowbest as usize > bestsize {
                    bestsize = rowbest as usize;
                    besti = i + 1 - bestsize;
                    bestj = rowj as usize + 1 - bestsize;
                }
            }
            prev = cur;
        }
        // With isjunk=None nothing is junk, so only the first two of CPython's four extension
        // loops can move; they matter when popular elements were left out of b2j.
        let (a, b) = (&self.a, &self.b);
        while besti > alo && bestj > blo && a[besti - 1] == b[bestj - 1] {
            besti -= 1;
            bestj -= 1;
            bestsize += 1;
        }
        while besti + bestsize < ahi && bestj + bestsize < bhi && a[besti + bestsize] == b[bestj + bestsize] {
            bestsize += 1;
        }
        Match {
            a: besti,
            b: bestj,
            size: bestsize,
        }
    }

    /// `get_matching_blocks()`: non-adjacent matching blocks, ascending, ending with the
    /// sentinel `(len(a), len(b), 0)`.
    pub fn get_matching_blocks(&mut self) -> Vec<Match> {
        if let Some(blocks) = &self.matching_blocks {
            return blocks.clone();
        }
        let (la, lb) = (self.a.len(), self.b.len());
        let mut queue = vec![(0, la, 0, lb)];
        let mut blocks = Vec::new();
        while let Some((alo, ahi, blo, bhi)) = queue.pop() {
            let m = self.find_longest_match(alo, ahi, blo, bhi);
            if m.size > 0 {
                blocks.push(m);
                if alo < m.a && blo < m.b {
                    queue.push((alo, m.a, blo, m.b));
                }
                if m.a + m.size < ahi && m.b + m.size < bhi {
                    queue.push((m.a + m.size, ahi, m.b + m.size, bhi));
                }
            }
        }
        blocks.sort_unstable();
        let mut out = Vec::with_capacity(blocks.len() + 1);
        let (mut i1, mut j1, mut k1) = (0, 0, 0);
        for m in blocks {
            if i1 + k1 == m.a && j1 + k1 == m.b {
                k1 += m.size;
            } else {
                if k1 > 0 {
                    out.push(Match { a: i1, b: j1, size: k1 });
                }
                (i1, j1, k1) = (m.a, m.b, m.size);
            }
        }
        if k1 > 0 {
            out.push(Match { a: i1, b: j1, size: k1 });
        }
        out.push(Match { a: la, b: lb, size: 0 });
        self.matching_blocks = Some(out.clone());
        out
    }

    /// The number of matched elements (the sum of the matching blocks' sizes).
    pub fn matches(&mut self) -> usize {
        self.get_matching_blocks().iter().map(|m| m.size).sum()
    }

    /// `ratio()`: `2 * M / (len(a) + len(b))`, `1.0` when both are empty.
    pub fn ratio(&mut self) -> f64 {
        let total = self.a.len() + self.b.len();
        let m = self.matches();
        calculate_ratio(m, total)
    }

    /// `get_opcodes()`.
    pub fn get_opcodes(&mut self) -> Vec<Opcode> {
        let (mut i, mut j) = (0, 0);
        let mut out = Vec::new();
        for m in self.get_matching_blocks() {
            let tag = if i < m.a && j < m.b {
                Some(Tag::Replace)
            } else if i < m.a {
                Some(Tag::Delete)
            } else if j < m.b {
                Some(Tag::Insert)
            } else {
                None
            };
            if let Some(tag) = tag {
                out.push(Opcode {
                    tag,
                    i1: i,
                    i2: m.a,
                    j1: j,
                    j2: m.b,
                });
            }
            (i, j) = (m.a + m.size, m.b + m.size);
            if m.size > 0 {
                out.push(Opcode {
                    tag: Tag::Equal,
                    i1: m.a,
                    i2: i,
                    j1: m.b,
                    j2: j,
                });
            }
        }
        out
    }

    /// `get_grouped_opcodes(n)`: change clusters with up to `n` lines of context.
    pub fn get_grouped_opcodes(&mut self, n: usize) -> Vec<Vec<Opcode>> {
        let mut codes = self.get_opcodes();
        if codes.is_empty() {
            codes.push(Opcode {
                tag: Tag::Equal,
                i1: 0,
                i2: 1,
                j1: 0,
                j2: 1,
            });
        }
        if let Some(first) = codes.first_mut()
            && first.tag == Tag::Equal
        {
            first.i1 = first.i1.max(first.i2.saturating_sub(n));
            first.j1 = first.j1.max(first.j2.saturating_sub(n));
        }
        if let Some(last) = codes.last_mut()
            && last.tag == Tag::Equal
        {
            last.i2 = last.i2.min(last.i1 + n);
            last.j2 = last.j2.min(last.j1 + n);
        }
        let nn = n + n;
        let mut groups = Vec::new();
        let mut group = Vec::new();
        for mut op in codes {
            if op.tag == Tag::Equal && op.i2 - op.i1 > nn {
                group.push(Opcode {
                    tag: Tag::Equal,
                    i1: op.i1,
                    i2: op.i2.min(op.i1 + n),
                    j1: op.j1,
                    j2: op.j2.min(op.j1 + n),
                });
                groups.push(std::mem::take(&mut group));
                op.i1 = op.i1.max(op.i2 - n);
                op.j1 = op.j1.max(op.j2.saturating_sub(n));
            }
            group.push(op);
        }
        let only_equal = group.len() == 1 && group[0].tag == Tag::Equal;
        if !group.is_empty() && !only_equal {
            groups.push(group);
        }
        groups
    }
}

/// difflib's `_calculate_ratio`.
pub fn calculate_ratio(matches: usize, length: usize) -> f64 {
    if length == 0 {
        1.0
    } else {
        2.0 * matches as f64 / length as f64
    }
}

/// `SequenceMatcher(None, a, b, autojunk=autojunk).ratio()` over code points.
pub fn char_ratio(a: &str, b: &str, autojunk: bool) -> f64 {
    SequenceMatcher::from_chars(a, b, autojunk).ratio()
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values are CPython 3.11's, from the difflib documentation and doctests.
    #[test]
    fn doc_examples() {
        let mut s = SequenceMatcher::from_chars(" abcd", "abcd abcd", true);
        assert_eq!(s.find_longest_match(0, 5, 0, 9), Match { a: 0, b: 4, size: 5 });
        let mut s = SequenceMatcher::from_chars("abxcd", "abcd", true);
        assert_eq!(
            s.get_matching_blocks(),
            vec![
                Match { a: 0, b: 0, size: 2 },
                Match { a: 3, b: 2, size: 2 },
                Match { a: 5, b: 4, size: 0 }
            ]
        );
        assert_eq!(char_ratio("tide", "diet", false), 0.25);
        assert_eq!(char_ratio("diet", "tide", false), 0.5);
        assert_eq!(char_ratio("", "", false), 1.0);
        let mut s = SequenceMatcher::from_chars("qabxcd", "abycdf", true);
        let ops: Vec<_> = s
            .get_opcodes()
            .iter()
            .map(|o| (o.tag.as_str(), o.i1, o.i2, o.j1, o.j2))
            .collect();
        assert_eq!(
            ops,
            vec![
                ("delete", 0, 1, 0, 0),
                ("equal", 1, 3, 0, 2),
                ("replace", 3, 4, 2, 3),
                ("equal", 4, 6, 3, 5),
                ("insert", 6, 6, 5, 6)
            ]
        );
    }

    #[test]
    fn stamp_wraparound_changes_nothing() {
        let (a, b) = (
            "the quick brown fox jumps over the lazy dog",
            "a quick brown dog jumps over the lazy fox",
        );
        let want = SequenceMatcher::from_chars(a, b, false).get_matching_blocks();
        for start in [u32::MAX - 50, u32::MAX - 44, u32::MAX - 3, u32::MAX - 1] {
            let mut s = SequenceMatcher::from_chars(a, b, false);
            s.cells.iter_mut().for_each(|c| *c = (u64::from(start) << 32) | 7);
            s.stamp = start;
            assert_eq!(s.get_matching_blocks(), want, "starting at stamp {start}");
        }
    }

    #[test]
    fn popular_elements_only_extend() {
        // 300 'a's in b: 'a' is popular (> 300 // 100 + 1 times), so no match can start on it,
        // but an empty match at (0, 0) still extends over equal elements (CPython: 20 / 310).
        let b = "a".repeat(300);
        assert_eq!(char_ratio(&"a".repeat(10), &b, true), 20.0 / 310.0);
        // With a leading 'b' nothing can start or extend: CPython gives 0.0, and 20 / 311
        // without autojunk.
        let a = format!("b{}", "a".repeat(10));
        assert_eq!(char_ratio(&a, &b, true), 0.0);
        assert_eq!(char_ratio(&a, &b, false), 20.0 / 311.0);
    }
}
