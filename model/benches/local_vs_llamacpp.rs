//! Benchmark (not a test): prompt and decode tokens per second of the local GGUF backend
//! against llama.cpp (llama-cpp-python) on the same file, the same prompt tokens and the same
//! number of threads, side by side, with ratios.
//!
//! ```text
//! cargo bench -p agentless-model --bench local_vs_llamacpp -- [--model PATH] [--threads 2]
//!     [--prompt-tokens 256] [--decode 128] [--repeat 5] [--batch 8] [--candle]
//! ```
//!
//! Runs alternate (ours, llama.cpp, ours, ...) so that background load hits both alike; the
//! best run of each is reported (the median in brackets). `--batch N` also measures decoding N
//! rows at once (the local backend's `n` samples) as aggregate tokens per second. `--candle`
//! adds stock candle (`quantized_llama`) as a third row. Needs llama-cpp-python: `LLAMACPP_PYTHON` (see
//! `scripts/setup-parity-env.sh`), else `python3`.
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;

use agentless_model::local::{GgufRunner, LocalOptions, Runtime};

const PROMPT_TEXT: &str = "def merge_intervals(intervals):\n    \"\"\"Merge overlapping intervals and return them sorted.\"\"\"\n    intervals = sorted(intervals, key=lambda iv: iv[0])\n    merged = []\n    for start, end in intervals:\n        if merged and start <= merged[-1][1]:\n            merged[-1][1] = max(merged[-1][1], end)\n        else:\n            merged.append([start, end])\n    return merged\n\n";

struct Args {
    model: Option<PathBuf>,
    threads: usize,
    prompt_tokens: usize,
    decode: usize,
    repeat: usize,
    batch: usize,
    candle: bool,
}

fn parse_args() -> Args {
    let mut a = Args {
        model: None,
        threads: 2,
        prompt_tokens: 256,
        decode: 128,
        repeat: 5,
        batch: 0,
        candle: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut val = || it.next().expect("a value after the flag");
        match arg.as_str() {
            "--model" => a.model = Some(PathBuf::from(val())),
            "--threads" => a.threads = val().parse().unwrap(),
            "--prompt-tokens" => a.prompt_tokens = val().parse().unwrap(),
            "--decode" => a.decode = val().parse().unwrap(),
            "--repeat" => a.repeat = val().parse().unwrap(),
            "--batch" => a.batch = val().parse().unwrap(),
            "--candle" => a.candle = true,
            _ => {} // `cargo bench` passes --bench
        }
    }
    a
}

fn best_and_median(mut xs: Vec<f64>) -> (f64, f64) {
    xs.sort_by(f64::total_cmp);
    (xs[0], xs[xs.len() / 2])
}

struct Row {
    name: String,
    prompt: (f64, f64),
    decode: (f64, f64),
}

fn main() {
    let args = parse_args();
    let model = args.model.clone().unwrap_or_else(|| {
        let dir = agentless_model::fetch::models_cache_dir().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(agentless_model::fetch::ensure_default_model(&dir, false, None))
            .unwrap()
    });
    let opts = LocalOptions {
        threads: Some(args.threads),
        ..LocalOptions::default()
    };
    let mut ours = Runtime::load(&model, &opts).unwrap();
    let info = ours.info(0);
    let mut prompt = Vec::new();
    while prompt.len() < args.prompt_tokens {
        prompt.extend(ours.encode(PROMPT_TEXT, false).unwrap());
    }
    prompt.truncate(args.prompt_tokens);
    println!(
        "model: {}\nlocal runner: {}\nprompt {} tokens, decode {} tokens, {} threads, {} runs each\n",
        model.display(),
        info.runner,
        prompt.len(),
        args.decode,
        args.threads,
        args.repeat
    );

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/llamacpp_speed.py");
    let tokens_json = serde_json::to_string(&prompt).unwrap();
    let (mut our_p, mut our_d, mut ref_p, mut ref_d) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut ref_name = String::from("llama.cpp");
    let python = std::env::var("LLAMACPP_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    // Warm-up (page cache, thread pools).
    ours.time_prefill_decode(&prompt, 1, 8).unwrap();
    for _ in 0..args.repeat {
        let (p, d) = ours.time_prefill_decode(&prompt, 1, args.decode).unwrap();
        our_p.push(prompt.len() as f64 / p);
        our_d.push(args.decode as f64 / d);
        let out = Command::new(&python)
            .args([script, "--model", &model.to_string_lossy(), "--tokens", &tokens_json])
            .args([
                "--decode",
                &args.decode.to_string(),
                "--threads",
                &args.threads.to_string(),
                "--repeat",
                "1",
            ])
            .output()
            .expect("the llama.cpp Python ($LLAMACPP_PYTHON or python3) runs");
        if !out.status.success() {
            eprintln!("llama.cpp run failed:\n{}", String::from_utf8_lossy(&out.stderr));
            std::process::exit(1);
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        ref_name = v["engine"].as_str().unwrap_or("llama.cpp").to_string();
        ref_p.push(prompt.len() as f64 / v["prompt_s"][0].as_f64().unwrap());
        ref_d.push(args.decode as f64 / v["decode_s"][0].as_f64().unwrap());
    }
    // Higher is better: "best" is the max; reuse the helper on negated values.
    let bm = |xs: &Vec<f64>| {
        let (b, m) = best_and_median(xs.iter().map(|x| -x).collect());
        (-b, -m)
    };
    let mut rows = vec![
        Row {
            name: "agentless engine".into(),
            prompt: bm(&our_p),
            decode: bm(&our_d),
        },
        Row {
            name: ref_name,
            prompt: bm(&ref_p),
            decode: bm(&ref_d),
        },
    ];
    if args.candle {
        let copts = LocalOptions {
            gguf_runner: GgufRunner::Candle,
            ..opts.clone()
        };
        let mut candle = Runtime::load(&model, &copts).unwrap();
        let (mut cp, mut cd) = (Vec::new(), Vec::new());
        for _ in 0..args.repeat.min(3) {
            let (p, d) = candle.time_prefill_decode(&prompt, 1, args.decode.min(64)).unwrap();
            cp.push(prompt.len() as f64 / p);
            cd.push(args.decode.min(64) as f64 / d);
        }
        rows.push(Row {
            name: "stock candle (quantized_llama)".into(),
            prompt: bm(&cp),
            decode: bm(&cd),
        });
    }
    println!("{:<36} {:>22} {:>22}", "engine", "prompt tok/s", "decode tok/s");
    for r in &rows {
        println!(
            "{:<36} {:>12.1} ({:>7.1}) {:>12.1} ({:>7.1})",
            r.name, r.prompt.0, r.prompt.1, r.decode.0, r.decode.1
        );
    }
    println!(
        "\nratio agentless / llama.cpp: prompt {:.2}x, decode {:.2}x (best runs; medians {:.2}x, {:.2}x)",
        rows[0].prompt.0 / rows[1].prompt.0,
        rows[0].decode.0 / rows[1].decode.0,
        rows[0].prompt.1 / rows[1].prompt.1,
        rows[0].decode.1 / rows[1].decode.1,
    );
    if args.batch > 1 {
        let mut agg = Vec::new();
        for _ in 0..args.repeat.min(3) {
            let (_, d) = ours.time_prefill_decode(&prompt, args.batch, args.decode).unwrap();
            agg.push((args.batch * args.decode) as f64 / d);
        }
        let (b, m) = bm(&agg);
        println!(
            "agentless engine, {} rows decoding together: {b:.1} tok/s aggregate (median {m:.1})",
            args.batch
        );
    }
}
