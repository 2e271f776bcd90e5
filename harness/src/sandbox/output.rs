//! A byte buffer with a size cap that keeps the head and the tail of a command's output, so
//! a runaway test cannot fill memory or disk while the markers at the start and the test
//! summary at the end survive; and the merge of a command's stdout and stderr into that one
//! buffer a line at a time, so a line of one stream is never cut by bytes of the other.

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

/// Which of an exec's two output streams a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Merges stdout and stderr into one [`CappedOutput`] at line boundaries. The engine sends the
/// two pipes as separate frames in arrival order, so a long stdout line (a runner's final
/// summary written in several chunks) could otherwise be cut by an xtrace line on stderr and
/// be unreadable to the log parsers. Each stream's bytes stay in order; a partial line waits
/// for its newline (or for `PENDING_LIMIT` bytes, or the end).
#[derive(Debug)]
pub struct LineMerger {
    out: CappedOutput,
    pending: [Vec<u8>; 2],
}

/// A partial line longer than this is written as it is (output with no newlines at all).
const PENDING_LIMIT: usize = 64 * 1024;

impl LineMerger {
    pub fn new(out: CappedOutput) -> Self {
        LineMerger {
            out,
            pending: [Vec::new(), Vec::new()],
        }
    }

    pub fn push(&mut self, stream: Stream, bytes: &[u8]) {
        let buf = &mut self.pending[stream as usize];
        buf.extend_from_slice(bytes);
        if let Some(last_nl) = buf.iter().rposition(|&b| b == b'\n') {
            self.out.push(&buf[..=last_nl]);
            buf.drain(..=last_nl);
        }
        if buf.len() > PENDING_LIMIT {
            self.out.push(buf);
            buf.clear();
        }
    }

    /// The merged output, with any unfinished lines (stdout's first) at the end.
    pub fn finish(mut self) -> CappedOutput {
        for buf in &self.pending {
            if !buf.is_empty() {
                self.out.push(buf);
            }
        }
        self.pending = [Vec::new(), Vec::new()];
        self.out
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

    #[test]
    fn a_line_is_never_cut_by_the_other_stream() {
        let mut m = LineMerger::new(CappedOutput::new(1 << 20));
        m.push(Stream::Stdout, b"start\n===== 3 passed");
        m.push(Stream::Stderr, b"+ SWEBENCH_TEST_EXIT_CODE=0\n");
        m.push(Stream::Stdout, b" in 0.1s =====\ntail");
        m.push(Stream::Stderr, b"+ echo");
        let text = String::from_utf8(m.finish().into_bytes()).unwrap();
        assert_eq!(
            text,
            "start\n+ SWEBENCH_TEST_EXIT_CODE=0\n===== 3 passed in 0.1s =====\ntail+ echo"
        );
    }

    #[test]
    fn output_without_newlines_is_not_held_forever() {
        let mut m = LineMerger::new(CappedOutput::new(1 << 20));
        m.push(Stream::Stdout, &vec![b'.'; PENDING_LIMIT + 1]);
        m.push(Stream::Stderr, b"x\n");
        let bytes = m.finish().into_bytes();
        assert_eq!(bytes.len(), PENDING_LIMIT + 3);
        assert!(bytes.ends_with(b".x\n"));
    }
}
