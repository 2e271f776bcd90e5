//! Streaming, parallel, order-keeping scoring of JSONL requests.
//!
//! One thread reads lines, `threads` workers score them, and the calling thread writes the
//! results in input order. At most `window` lines are in flight (read but not yet written),
//! so memory stays bounded whatever the input size, and a result is written (and flushed when
//! no other result is ready) as soon as every line before it is done, so the command also
//! works as a co-process that answers one request at a time.

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use crate::jsonl::{LineOutcome, RequestError, error_line, score_line};

/// How to run a stream.
#[derive(Debug, Clone, Copy)]
pub struct StreamOptions {
    /// Scoring threads (at least 1).
    pub threads: usize,
    /// Lines in flight at most (at least `threads`).
    pub window: usize,
    /// Lines longer than this many bytes get an error line instead of a score.
    pub max_line_bytes: usize,
    /// Add the per-file similarities to each result.
    pub per_file: bool,
}

impl Default for StreamOptions {
    fn default() -> Self {
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        StreamOptions {
            threads,
            window: 32 * threads,
            max_line_bytes: 1 << 30,
            per_file: false,
        }
    }
}

/// Counts over a finished stream.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StreamSummary {
    /// Non-blank input lines.
    pub lines: usize,
    /// Lines scored in `[0, 1]`.
    pub scored: usize,
    /// Lines whose output was malformed (reward -1).
    pub format_errors: usize,
    /// Lines that could not be scored (error lines).
    pub input_errors: usize,
    /// The sum of the `[0, 1]` rewards.
    pub reward_sum: f64,
}

impl StreamSummary {
    /// Count one written line.
    pub fn add(&mut self, outcome: LineOutcome) {
        self.lines += 1;
        match outcome {
            LineOutcome::Scored(r) => {
                self.scored += 1;
                self.reward_sum += r;
            }
            LineOutcome::FormatError => self.format_errors += 1,
            LineOutcome::InputError => self.input_errors += 1,
        }
    }

    /// The mean reward over scored lines and format errors (each counting -1), as an RL
    /// trainer would see it; `None` when there are none.
    pub fn mean_reward(&self) -> Option<f64> {
        let n = self.scored + self.format_errors;
        (n > 0).then(|| (self.reward_sum + self.format_errors as f64 * crate::FormatError::REWARD) / n as f64)
    }
}

/// A line read from the input: its 1-based number and bytes (without the newline), or the
/// error line for a line over the limit.
enum Job {
    Line(usize, Vec<u8>),
    TooLong(usize, usize),
}

/// Read JSONL requests from `input`, write one result line per non-blank input line to
/// `output`, in input order. Stops early only on an I/O error.
pub fn score_stream<R: Read + Send, W: Write>(input: R, output: W, opts: StreamOptions) -> io::Result<StreamSummary> {
    score_stream_with_progress(input, output, opts, |_| {})
}

/// [`score_stream`], calling `progress` with the running counts after each written line.
pub fn score_stream_with_progress<R: Read + Send, W: Write>(
    input: R,
    output: W,
    opts: StreamOptions,
    mut progress: impl FnMut(&StreamSummary),
) -> io::Result<StreamSummary> {
    let mut reader = BufReader::with_capacity(1 << 16, input);
    let max = opts.max_line_bytes;
    let mut line_no = 0usize;
    let jobs = std::iter::from_fn(move || {
        loop {
            line_no += 1;
            match read_line_bounded(&mut reader, max) {
                Ok(None) => return None,
                Ok(Some(Line::Text(bytes))) if bytes.iter().all(u8::is_ascii_whitespace) => continue,
                Ok(Some(Line::Text(bytes))) => return Some(Ok(Job::Line(line_no, bytes))),
                Ok(Some(Line::TooLong(len))) => return Some(Ok(Job::TooLong(line_no, len))),
                Err(e) => return Some(Err(e)),
            }
        }
    });
    let per_file = opts.per_file;
    let work = move |job: Job| match job {
        Job::Line(n, bytes) => score_line(n, &bytes, per_file),
        Job::TooLong(n, len) => {
            let e = RequestError::TooLong(len, max);
            (
                error_line(&serde_json::Value::Null, n, &e.to_string()),
                LineOutcome::InputError,
            )
        }
    };
    let mut out = io::BufWriter::with_capacity(1 << 16, output);
    let mut summary = StreamSummary::default();
    let result = parallel_ordered(jobs, opts.threads, opts.window, work, |(line, outcome), more_ready| {
        summary.add(outcome);
        progress(&summary);
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
        if !more_ready {
            out.flush()?;
        }
        Ok(())
    });
    result?;
    out.flush()?;
    Ok(summary)
}

enum Line {
    Text(Vec<u8>),
    TooLong(usize),
}

/// Read one line (without `\n` / `\r\n`), keeping at most `max` bytes of it in memory.
fn read_line_bounded(reader: &mut impl BufRead, max: usize) -> io::Result<Option<Line>> {
    let mut buf = Vec::new();
    let mut len = 0usize;
    let mut any = false;
    loop {
        let chunk = match reader.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            break;
        }
        any = true;
        let (part, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (&chunk[..i], true),
            None => (chunk, false),
        };
        len += part.len();
        if len <= max {
            buf.extend_from_slice(part);
        }
        let used = part.len() + usize::from(done);
        reader.consume(used);
        if done {
            break;
        }
    }
    if !any {
        return Ok(None);
    }
    if len > max {
        return Ok(Some(Line::TooLong(len)));
    }
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    Ok(Some(Line::Text(buf)))
}

/// Map `work` over `items` on `threads` worker threads and hand the results to `sink` in
/// item order, with at most `window` items read and not yet sunk. `items` runs on its own
/// thread; `sink` runs on the caller's thread and learns whether another result is ready
/// (so it can batch flushes). An item error stops reading and is returned once the items
/// before it are sunk; a sink error stops everything.
pub fn parallel_ordered<I, O, P, F, S>(items: P, threads: usize, window: usize, work: F, mut sink: S) -> io::Result<()>
where
    I: Send,
    O: Send,
    P: Iterator<Item = io::Result<I>> + Send,
    F: Fn(I) -> O + Sync,
    S: FnMut(O, bool) -> io::Result<()>,
{
    let threads = threads.max(1);
    let window = window.max(threads);
    let (job_tx, job_rx) = mpsc::sync_channel::<(usize, I)>(threads);
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (res_tx, res_rx) = mpsc::channel::<(usize, O)>();
    // One token per slot of the window: the reader takes one per item, the sink returns it.
    let (token_tx, token_rx) = mpsc::sync_channel::<()>(window);
    for _ in 0..window {
        let _ = token_tx.send(());
    }
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || -> io::Result<()> {
            for (seq, item) in items.enumerate() {
                if token_rx.recv().is_err() {
                    return Ok(()); // the sink stopped
                }
                let item = item?;
                if job_tx.send((seq, item)).is_err() {
                    return Ok(());
                }
            }
            Ok(())
        });
        for _ in 0..threads {
            let job_rx = Arc::clone(&job_rx);
            let res_tx = res_tx.clone();
            let work = &work;
            scope.spawn(move || {
                loop {
                    let job = match job_rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok((seq, item)) = job else { return };
                    if res_tx.send((seq, work(item))).is_err() {
                        return;
                    }
                }
            });
        }
        // Only the workers hold the job receiver: when they are gone, the reader's send fails.
        drop(job_rx);
        drop(res_tx);
        let mut pending: BTreeMap<usize, O> = BTreeMap::new();
        let mut next = 0usize;
        let mut sink_result = Ok(());
        'outer: while let Ok((seq, out)) = res_rx.recv() {
            pending.insert(seq, out);
            loop {
                let Some(out) = pending.remove(&next) else { break };
                // Pull whatever else finished, to know whether the next one is ready.
                while let Ok((s, o)) = res_rx.try_recv() {
                    pending.insert(s, o);
                }
                let more_ready = pending.contains_key(&(next + 1));
                if let Err(e) = sink(out, more_ready) {
                    sink_result = Err(e);
                    break 'outer;
                }
                next += 1;
                let _ = token_tx.send(());
            }
        }
        // Stop the reader (no more tokens) and the workers (no more jobs, results unread).
        drop(token_tx);
        drop(res_rx);
        let read_result = reader
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the input reader panicked")));
        sink_result.and(read_result)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_with_uneven_work() {
        let items = (0..500u64).map(Ok);
        let mut seen = Vec::new();
        let work = |i: u64| {
            // Uneven cost so results finish out of order.
            let spin = (i * 7919) % 20_000;
            let noise = (0..spin).fold(i, |acc, x| acc.wrapping_mul(31).wrapping_add(x));
            (i, std::hint::black_box(noise))
        };
        parallel_ordered(items, 4, 8, work, |(i, _), _| {
            seen.push(i);
            Ok(())
        })
        .map_err(|e| e.to_string())
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(seen, (0..500).collect::<Vec<_>>());
    }

    /// Reads what the test sends, blocking like a pipe; EOF when the sender is dropped.
    struct ChannelReader(mpsc::Receiver<Vec<u8>>, Vec<u8>);

    impl Read for ChannelReader {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.1.is_empty() {
                match self.0.recv() {
                    Ok(chunk) => self.1 = chunk,
                    Err(_) => return Ok(0),
                }
            }
            let n = buf.len().min(self.1.len());
            buf[..n].copy_from_slice(&self.1[..n]);
            self.1.drain(..n);
            Ok(n)
        }
    }

    /// Hands every flushed write to the test.
    struct ChannelWriter(mpsc::Sender<Vec<u8>>);

    impl Write for ChannelWriter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0
                .send(buf.to_vec())
                .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?;
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Used as a co-process: each result arrives while the input is still open, before the
    /// next request is sent.
    #[test]
    fn answers_each_request_before_the_next_arrives() {
        let (in_tx, in_rx) = mpsc::channel();
        let (out_tx, out_rx) = mpsc::channel();
        let opts = StreamOptions {
            threads: 2,
            window: 64,
            max_line_bytes: 1 << 20,
            per_file: false,
        };
        let runner =
            std::thread::spawn(move || score_stream(ChannelReader(in_rx, Vec::new()), ChannelWriter(out_tx), opts));
        for id in 0..5 {
            let line = format!("{{\"id\":{id},\"kind\":\"unidiff\",\"oracle_patches\":[],\"pred_patches\":[]}}\n");
            in_tx
                .send(line.into_bytes())
                .map_err(|e| e.to_string())
                .unwrap_or_else(|e| panic!("{e}"));
            let mut got = Vec::new();
            while !got.ends_with(b"\n") {
                let chunk = out_rx.recv_timeout(std::time::Duration::from_secs(10));
                got.extend(chunk.unwrap_or_else(|e| panic!("no answer to request {id}: {e}")));
            }
            assert_eq!(
                String::from_utf8_lossy(&got),
                format!("{{\"id\":{id},\"reward\":1.0}}\n")
            );
        }
        drop(in_tx);
        let summary = runner
            .join()
            .map_err(|_| "runner panicked".to_string())
            .and_then(|r| r.map_err(|e| e.to_string()));
        assert_eq!(summary.map(|s| s.scored), Ok(5));
    }

    #[test]
    fn stream_numbers_lines_and_skips_blank_ones() {
        let input = b"{\"id\":1,\"kind\":\"unidiff\",\"oracle_patches\":[],\"pred_patches\":[]}\r\n\n   \nnope\n{\"id\":2,\"kind\":\"unidiff\",\"oracle_patches\":[],\"pred_patches\":[\"x\"]}";
        let mut out = Vec::new();
        let opts = StreamOptions {
            threads: 2,
            window: 2,
            max_line_bytes: 100,
            per_file: false,
        };
        let summary = score_stream(&input[..], &mut out, opts).map_err(|e| e.to_string());
        assert_eq!(
            summary.as_ref().map(|s| (s.lines, s.scored, s.input_errors)),
            Ok((3, 2, 1))
        );
        let text = String::from_utf8_lossy(&out);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], r#"{"id":1,"reward":1.0}"#);
        assert!(
            lines[1].starts_with(r#"{"id":null,"line":4,"error":"invalid JSON"#),
            "{}",
            lines[1]
        );
        assert_eq!(lines[2], r#"{"id":2,"reward":1.0}"#);
        let long = format!("{{\"id\":3,\"pad\":\"{}\"}}\n{{}}\n", "x".repeat(200));
        let mut out = Vec::new();
        let summary = score_stream(long.as_bytes(), &mut out, opts).map_err(|e| e.to_string());
        assert_eq!(summary.map(|s| s.input_errors), Ok(2));
        let text = String::from_utf8_lossy(&out);
        assert!(
            text.starts_with(r#"{"id":null,"line":1,"error":"line is 217 bytes, over the 100 byte limit"}"#),
            "{text}"
        );
        assert!(
            text.contains(r#"{"id":null,"line":2,"error":"missing field `id`"}"#),
            "{text}"
        );
    }
}
