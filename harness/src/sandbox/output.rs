//! A byte buffer with a size cap that keeps the head and the tail of a command's output, so
//! a runaway test cannot fill memory or disk while the markers at the start and the test
//! summary at the end survive.

use std::collections::VecDeque;

/// Output captured up to `limit` bytes: the first quarter and the last three quarters are
/// kept, the middle is replaced by one line saying how much was dropped.
#[derive(Debug, Clone)]
pub struct CappedOutput {
    head: Vec<u8>,
    tail: VecDeque<u8>,
    head_limit: usize,
    tail_limit: usize,
    dropped: u64,
}

impl CappedOutput {
    pub fn new(limit: usize) -> Self {
        let limit = limit.max(16);
        let head_limit = limit / 4;
        CappedOutput {
            head: Vec::new(),
            tail: VecDeque::new(),
            head_limit,
            tail_limit: limit - head_limit,
            dropped: 0,
        }
    }

    pub fn push(&mut self, mut bytes: &[u8]) {
        if self.head.len() < self.head_limit {
            let n = (self.head_limit - self.head.len()).min(bytes.len());
            self.head.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
        }
        if bytes.is_empty() {
            return;
        }
        if bytes.len() >= self.tail_limit {
            self.dropped += (self.tail.len() + bytes.len() - self.tail_limit) as u64;
            self.tail.clear();
            self.tail.extend(&bytes[bytes.len() - self.tail_limit..]);
            return;
        }
        let overflow = (self.tail.len() + bytes.len()).saturating_sub(self.tail_limit);
        if overflow > 0 {
            self.tail.drain(..overflow);
            self.dropped += overflow as u64;
        }
        self.tail.extend(bytes);
    }

    /// True when some output was dropped.
    pub fn truncated(&self) -> bool {
        self.dropped > 0
    }

    /// Bytes dropped from the middle.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The kept bytes, with a marker line where the middle was dropped.
    pub fn into_bytes(self) -> Vec<u8> {
        let mut out = self.head;
        if self.dropped > 0 {
            out.extend_from_slice(
                format!(
                    "\n[agentless-mini: {} bytes of output omitted here (output limit)]\n",
                    self.dropped
                )
                .as_bytes(),
            );
        }
        out.extend(self.tail);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_output_is_kept_whole() {
        let mut c = CappedOutput::new(100);
        c.push(b"hello ");
        c.push(b"world");
        assert!(!c.truncated());
        assert_eq!(c.into_bytes(), b"hello world");
    }

    #[test]
    fn large_output_keeps_head_and_tail() {
        let mut c = CappedOutput::new(40);
        c.push(b"START-----");
        for _ in 0..1000 {
            c.push(b"x");
        }
        c.push(b"----------END-PASSED");
        assert!(c.truncated());
        let dropped = c.dropped();
        let s = String::from_utf8(c.into_bytes()).unwrap();
        assert!(s.starts_with("START-----"), "{s}");
        assert!(s.ends_with("----------END-PASSED"), "{s}");
        assert!(s.contains(&format!("{dropped} bytes of output omitted")), "{s}");
        // 10 head + 30 tail kept of 1030 bytes.
        assert_eq!(dropped, 1030 - 40);
    }

    #[test]
    fn one_huge_chunk() {
        let mut c = CappedOutput::new(16);
        let big = vec![b'a'; 1 << 20];
        c.push(&big);
        c.push(b"zz");
        assert_eq!(c.dropped(), (1 << 20) + 2 - 16);
        let b = c.into_bytes();
        assert!(b.ends_with(b"aazz"));
    }
}
