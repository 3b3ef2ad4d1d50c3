//! The workload benchmark (see `e2e_clients::workload`): one request mix through the full chain, through
//! the gateway without plugins and straight to the mock LLM, at several concurrencies, in one run; then
//! hit rate / false-hit rate per similarity threshold and tokens saved per repeat share. Prints Markdown
//! tables (for BENCHMARKS.md), writes an SVG chart and optionally the figures as JSON.
//!
//! The gateways run as child processes (this binary re-executed with `--serve-gateway`), so their CPU
//! time and memory are measured apart from the clients, mocks, Redis and the embedding server.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use e2e_clients::chart::ThresholdPoint;
use e2e_clients::stack::Stack;
use e2e_clients::workload::gateway_process::{self, GatewayProcess, Usage};
use e2e_clients::workload::{self, Kind, Mix, Pair, Report, Request};
use serde_json::{json, Value};

const USAGE: &str = "\
usage: ai-workload [--smoke] [--data FILE] [--requests N] [--repeat-share R] [--paraphrase-share P]
                   [--stream-share S] [--tenants T] [--concurrency 1,16,64] [--llm-ttft-ms MS]
                   [--thresholds 0.8,0.85,0.9,0.95] [--repeat-shares 0,0.25,0.5,0.75]
                   [--sweep-requests N] [--sweep-concurrency C] [--seed N] [--svg FILE] [--json FILE]
  --data FILE     QQP dev split, JSON lines {text_a,text_b,label} (default ../shared/data/qqp-dev.jsonl
                  next to the checkout)
  --llm-ttft-ms   time to first token the mock LLM adds to every answer (x-mock-ttft-ms; default 0)
  --smoke         a small run for tests (40 requests, concurrency 1,4, sweeps of 30 requests,
                  chart to the temp dir); flags after it still apply
  defaults: 300 requests, repeat 0.5, paraphrase 0.5, stream 0.5, 4 tenants, seed 1, concurrency
            1,16,64; sweeps with 600 requests one at a time (so the cache sees them in order and
            thresholds compare exactly); chart to docs/benchmarks/workload.svg
exit status: 0 done, 1 failed, 2 bad arguments, 3 skipped (Redis or the embedding model unavailable)
";

/// Exit status when the stack cannot run here (the test treats it as a skip).
const SKIPPED: u8 = 3;

struct Args {
    data: PathBuf,
    mix: Mix,
    concurrency: Vec<usize>,
    llm_ttft_ms: u64,
    thresholds: Vec<f64>,
    repeat_shares: Vec<f64>,
    sweep_requests: usize,
    sweep_concurrency: usize,
    svg: PathBuf,
    json: Option<PathBuf>,
}

fn list<T: std::str::FromStr>(v: &str) -> Result<Vec<T>, String> {
    v.split(',')
        .map(|x| x.trim().parse().map_err(|_| format!("bad list item {x:?}")))
        .collect()
}

fn defaults(smoke: bool) -> Args {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let repo = repo.canonicalize().unwrap_or(repo);
    let mix = Mix {
        requests: 300,
        repeat_share: 0.5,
        paraphrase_share: 0.5,
        stream_share: 0.5,
        tenants: 4,
        seed: 1,
    };
    let full = Args {
        data: repo.join("../shared/data/qqp-dev.jsonl"),
        mix,
        concurrency: vec![1, 16, 64],
        llm_ttft_ms: 0,
        thresholds: vec![0.8, 0.85, 0.9, 0.95],
        repeat_shares: vec![0.0, 0.25, 0.5, 0.75],
        sweep_requests: 600,
        sweep_concurrency: 1,
        svg: repo.join("docs/benchmarks/workload.svg"),
        json: None,
    };
    if !smoke {
        return full;
    }
    Args {
        mix: Mix {
            requests: 40,
            tenants: 2,
            ..mix
        },
        concurrency: vec![1, 4],
        thresholds: vec![0.85, 0.95],
        repeat_shares: vec![0.0, 0.5],
        sweep_requests: 30,
        svg: std::env::temp_dir().join(format!("ai-workload-smoke-{}.svg", std::process::id())),
        ..full
    }
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut a = defaults(args.iter().any(|x| x == "--smoke"));
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--help" | "-h" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            "--smoke" => continue,
            _ => {}
        }
        let v = it.next().ok_or(format!("{flag} needs a value"))?;
        let num = |v: &str| {
            v.parse::<f64>()
                .ok()
                .filter(|n| n.is_finite() && *n >= 0.0)
                .ok_or(format!("{flag} {v}: not a non-negative number"))
        };
        let share = |v: &str| {
            num(v)
                .ok()
                .filter(|n| *n <= 1.0)
                .ok_or(format!("{flag} {v}: not a share in [0, 1]"))
        };
        match flag.as_str() {
            "--data" => a.data = PathBuf::from(v),
            "--requests" => a.mix.requests = num(v)? as usize,
            "--repeat-share" => a.mix.repeat_share = share(v)?,
            "--paraphrase-share" => a.mix.paraphrase_share = share(v)?,
            "--stream-share" => a.mix.stream_share = share(v)?,
            "--tenants" => a.mix.tenants = (num(v)? as usize).max(1),
            "--seed" => a.mix.seed = num(v)? as u64,
            "--concurrency" => a.concurrency = list(v)?,
            "--llm-ttft-ms" => a.llm_ttft_ms = num(v)? as u64,
            "--thresholds" => a.thresholds = list(v)?,
            "--repeat-shares" => a.repeat_shares = list(v)?,
            "--sweep-requests" => a.sweep_requests = num(v)? as usize,
            "--sweep-concurrency" => a.sweep_concurrency = (num(v)? as usize).max(1),
            "--svg" => a.svg = PathBuf::from(v),
            "--json" => a.json = Some(PathBuf::from(v)),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if a.concurrency.is_empty() || a.concurrency.contains(&0) {
        return Err("--concurrency needs positive numbers".into());
    }
    Ok(a)
}

fn stamp() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

fn pct(n: usize, of: usize) -> f64 {
    100.0 * n as f64 / of.max(1) as f64
}

/// `a / b` hits as a percentage cell (`–` when nothing was asked).
fn share_cell(part: usize, of: usize) -> String {
    if of == 0 {
        "–".into()
    } else {
        format!("{part}/{of}")
    }
}

fn ms(v: f64) -> String {
    if v.is_nan() {
        "–".into()
    } else {
        format!("{v:.1}")
    }
}

fn saved(chain: u64, direct: u64) -> f64 {
    100.0 * (1.0 - chain as f64 / direct.max(1) as f64)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn report_json(r: &Report) -> Value {
    let kind = |k: Kind| {
        let c = r.kind(k);
        json!({"asked": c.asked, "hits": c.hits, "wrong": c.wrong})
    };
    json!({
        "requests": r.requests, "errors": r.errors, "hits": r.hits, "wrong_hits": r.wrong_hits,
        "fresh": kind(Kind::Fresh), "repeat": kind(Kind::Repeat),
        "paraphrase": kind(Kind::Paraphrase), "near_miss": kind(Kind::NearMiss),
        "upstream_tokens": r.upstream_tokens,
        "hit_p50_ms": r.hit_p50, "hit_p99_ms": r.hit_p99,
        "miss_p50_ms": r.miss_p50, "miss_p99_ms": r.miss_p99, "rps": r.rps,
    })
}

/// Replays `requests` against a gateway process and returns the report and the CPU seconds the
/// gateway spent on them.
fn measured(
    gateway: &GatewayProcess,
    requests: &[Request],
    concurrency: usize,
    tenants: &str,
    headers: &[(&str, &str)],
) -> Result<(Report, f64), String> {
    let before = gateway.usage()?;
    let (outcomes, elapsed) =
        workload::replay(&gateway.base_url, requests, concurrency, tenants, headers);
    let after = gateway.usage()?;
    Ok((
        workload::report(&outcomes, elapsed),
        after.cpu_s - before.cpu_s,
    ))
}

fn direct(url: &str, requests: &[Request], concurrency: usize, headers: &[(&str, &str)]) -> Report {
    let (outcomes, elapsed) = workload::replay(url, requests, concurrency, "direct", headers);
    workload::report(&outcomes, elapsed)
}

/// One concurrency level of the main comparison.
struct Level {
    concurrency: usize,
    chain: Report,
    chain_cpu_s: f64,
    chain_mem: Usage,
    plain: Report,
    plain_cpu_s: f64,
    plain_mem: Usage,
    direct: Report,
}

/// The wrong answers of the threshold sweep: what was asked and which question the served answer
/// belongs to (the mock quotes the first 40 characters of the question it answered).
fn print_wrong_answers(rows: &[(f64, Report)], requests: &[Request]) {
    let cell = |t: &str| t.replace('|', "\\|");
    let mut lines = Vec::new();
    for (t, r) in rows {
        for (i, answer) in &r.wrong_answers {
            let answered_for = answer.split_once(": ").map_or(answer.as_str(), |(_, q)| q);
            lines.push(format!(
                "| {t} | {:?} | {} | \"{}…\" |",
                requests[*i].kind,
                cell(&requests[*i].question),
                cell(answered_for)
            ));
        }
    }
    if lines.is_empty() {
        return;
    }
    println!("\nWrong answers served in the threshold sweep:\n");
    println!("| threshold | request | question asked | answer served was for |");
    println!("|---:|---|---|---|");
    for l in lines {
        println!("{l}");
    }
}

/// What every part of the run shares: the arguments, the services and the rendered chain.
struct Bench<'a> {
    a: &'a Args,
    pairs: &'a [Pair],
    exe: &'a Path,
    stack: Stack,
    chain_yaml: String,
    /// The mock LLM's base URL (the direct path).
    llm: String,
    ttft_ms: String,
    started: Instant,
}

impl Bench<'_> {
    /// Headers on every request: the mock's time to first token when one is asked for.
    fn headers(&self) -> Vec<(&str, &str)> {
        if self.a.llm_ttft_ms > 0 {
            vec![("x-mock-ttft-ms", self.ttft_ms.as_str())]
        } else {
            Vec::new()
        }
    }

    fn gateway(&self, plugins: &str) -> Result<GatewayProcess, String> {
        GatewayProcess::start(self.exe, &self.stack, plugins)
    }

    fn progress(&self, what: &str) {
        eprintln!("[{:>6.1}s] {what}", self.started.elapsed().as_secs_f64());
    }

    /// The mix at each concurrency through the chain, the plugin-less gateway and to the mock
    /// directly; prints the comparison tables.
    fn compare_paths(&self) -> Result<Value, String> {
        let (a, headers) = (self.a, self.headers());
        let chain = self.gateway(&self.chain_yaml)?;
        let plain = self.gateway("")?;
        let (chain_start, plain_start) = (chain.usage()?, plain.usage()?);
        self.progress("gateways ready");
        let requests = workload::generate(self.pairs, a.mix);
        let mut levels = Vec::new();
        for &c in &a.concurrency {
            let tenants = format!("c{c}-{}", stamp());
            let (chain_r, chain_cpu_s) = measured(&chain, &requests, c, &tenants, &headers)?;
            let (plain_r, plain_cpu_s) = measured(&plain, &requests, c, &tenants, &headers)?;
            let direct_r = direct(&self.llm, &requests, c, &headers);
            self.progress(&format!("concurrency {c} done"));
            levels.push(Level {
                concurrency: c,
                chain: chain_r,
                chain_cpu_s,
                chain_mem: chain.usage()?,
                plain: plain_r,
                plain_cpu_s,
                plain_mem: plain.usage()?,
                direct: direct_r,
            });
        }
        let m = &a.mix;
        println!(
        "### Full chain vs straight to the mock LLM\n\n{} requests per concurrency: repeat share {}, of the \
         repeats {} paraphrased (QQP partner text), stream share {}, {} tenants, seed {}; threshold 0.9 \
         (`e2e/clients/chain.yaml`); mock time to first token {} ms. Each concurrency starts with a cold \
         cache (new tenants).\n",
        m.requests, m.repeat_share, m.paraphrase_share, m.stream_share, m.tenants, m.seed, a.llm_ttft_ms
    );
        println!("| concurrency | cache hits | exact repeats hit | paraphrases hit | near misses hit | wrong answers served | upstream tokens, chain / direct | tokens saved | errors |");
        println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for l in &levels {
            let (c, r, p, d) = (l.concurrency, &l.chain, &l.plain, &l.direct);
            let (rep, para, near) = (
                r.kind(Kind::Repeat),
                r.kind(Kind::Paraphrase),
                r.kind(Kind::NearMiss),
            );
            println!(
                "| {c} | {:.1}% | {} | {} | {} | {} | {} / {} | {:.1}% | {} |",
                pct(r.hits, r.requests),
                share_cell(rep.hits, rep.asked),
                share_cell(para.hits, para.asked),
                share_cell(near.hits, near.asked),
                r.wrong_hits,
                r.upstream_tokens,
                d.upstream_tokens,
                saved(r.upstream_tokens, d.upstream_tokens),
                r.errors + p.errors + d.errors,
            );
        }
        println!("\nLatency in ms, p50 / p99 (client side, whole answer read):\n");
        println!(
        "| concurrency | chain: hits | chain: misses | gateway without plugins | mock LLM direct |"
    );
        println!("|---:|---:|---:|---:|---:|");
        for l in &levels {
            let (c, r, p, d) = (l.concurrency, &l.chain, &l.plain, &l.direct);
            println!(
                "| {c} | {} / {} | {} / {} | {} / {} | {} / {} |",
                ms(r.hit_p50),
                ms(r.hit_p99),
                ms(r.miss_p50),
                ms(r.miss_p99),
                ms(p.miss_p50),
                ms(p.miss_p99),
                ms(d.miss_p50),
                ms(d.miss_p99)
            );
        }
        println!(
        "\nGateway processes (2 workers each): throughput, CPU per request (user + system time of the \
         gateway process over the replay / requests) and memory. The plugins' share is the chain's CPU \
         minus the plain gateway's on the same requests (hits skip the upstream, so it is a lower bound).\n"
    );
        println!("| concurrency | req/s chain / no plugins / direct | gateway CPU µs/request, chain / no plugins | plugins' CPU µs/request | RSS KiB chain / no plugins (after) |");
        println!("|---:|---:|---:|---:|---:|");
        let per_req = |cpu: f64, r: &Report| 1e6 * cpu / r.requests.max(1) as f64;
        for l in &levels {
            let (chain_cpu, plain_cpu) = (
                per_req(l.chain_cpu_s, &l.chain),
                per_req(l.plain_cpu_s, &l.plain),
            );
            println!(
            "| {} | {:.0} / {:.0} / {:.0} | {chain_cpu:.0} / {plain_cpu:.0} | {:.0} | {} / {} |",
            l.concurrency,
            l.chain.rps,
            l.plain.rps,
            l.direct.rps,
            chain_cpu - plain_cpu,
            l.chain_mem.rss_kib,
            l.plain_mem.rss_kib
        );
        }
        let (chain_end, plain_end) = (chain.usage()?, plain.usage()?);
        println!(
            "\nGateway RSS: chain {} KiB after start (4 plugins × 2 workers instantiated), peak {} KiB; \
             without plugins {} KiB after start, peak {} KiB.",
            chain_start.rss_kib, chain_end.peak_rss_kib, plain_start.rss_kib, plain_end.peak_rss_kib
        );
        Ok(json!({
            "levels": levels.iter().map(|l| json!({
                "concurrency": l.concurrency,
                "chain": report_json(&l.chain), "chain_cpu_s": l.chain_cpu_s, "chain_usage": usage_json(&l.chain_mem),
                "plain": report_json(&l.plain), "plain_cpu_s": l.plain_cpu_s, "plain_usage": usage_json(&l.plain_mem),
                "direct": report_json(&l.direct),
            })).collect::<Vec<_>>(),
            "chain_start": usage_json(&chain_start),
        }))
    }

    fn sweep_mix(&self) -> Mix {
        Mix {
            requests: self.a.sweep_requests,
            ..self.a.mix
        }
    }

    /// The same requests through one fresh chain gateway per similarity threshold; prints the
    /// table and the wrong answers served.
    fn threshold_sweep(&self) -> Result<(Vec<ThresholdPoint>, Value), String> {
        let (a, headers) = (self.a, self.headers());
        let sweep = workload::generate(self.pairs, self.sweep_mix());
        let sweep_direct = direct(&self.llm, &sweep, a.sweep_concurrency, &headers);
        let mut by_threshold = Vec::new();
        let mut threshold_rows = Vec::new();
        for &t in &a.thresholds {
            let edited = self.chain_yaml.replace(
                "similarityThreshold: 0.9\n",
                &format!("similarityThreshold: {t}\n"),
            );
            if edited == self.chain_yaml && t != 0.9 {
                return Err("chain.yaml no longer has `similarityThreshold: 0.9`".into());
            }
            let g = self.gateway(&edited)?;
            let (r, _) = measured(
                &g,
                &sweep,
                a.sweep_concurrency,
                &format!("t{t}-{}", stamp()),
                &headers,
            )?;
            self.progress(&format!("threshold {t} done"));
            let para = r.kind(Kind::Paraphrase);
            by_threshold.push(ThresholdPoint {
                threshold: t,
                hit_rate: pct(r.hits, r.requests),
                paraphrase_hit_rate: if para.asked == 0 {
                    f64::NAN
                } else {
                    pct(para.hits, para.asked)
                },
                false_hit_rate: pct(r.wrong_hits, r.hits),
            });
            threshold_rows.push((t, r));
        }
        println!(
            "\n### Similarity threshold\n\n{} requests of the same mix, concurrency {}, one fresh \
             gateway per threshold.\n",
            a.sweep_requests, a.sweep_concurrency
        );
        println!("| threshold | hit rate | paraphrases hit | near misses hit | false-hit rate (wrong / hits) | wrong answers per 100 requests | tokens saved |");
        println!("|---:|---:|---:|---:|---:|---:|---:|");
        for (t, r) in &threshold_rows {
            let (para, near) = (r.kind(Kind::Paraphrase), r.kind(Kind::NearMiss));
            println!(
                "| {t} | {:.1}% | {} | {} | {:.1}% | {:.1} | {:.1}% |",
                pct(r.hits, r.requests),
                share_cell(para.hits, para.asked),
                share_cell(near.hits, near.asked),
                pct(r.wrong_hits, r.hits),
                pct(r.wrong_hits, r.requests),
                saved(r.upstream_tokens, sweep_direct.upstream_tokens),
            );
        }
        print_wrong_answers(&threshold_rows, &sweep);

        Ok((
            by_threshold,
            json!({
                "thresholds": threshold_rows.iter().map(|(t, r)| json!({"threshold": t, "chain": report_json(r)})).collect::<Vec<_>>(),
                "direct": report_json(&sweep_direct),
            }),
        ))
    }

    /// Mixes with each repeat share through the default chain (new tenants each) and to the mock.
    fn share_sweep(&self) -> Result<(Vec<(f64, f64)>, Value), String> {
        let (a, headers) = (self.a, self.headers());
        let chain = self.gateway(&self.chain_yaml)?;
        let mut by_share = Vec::new();
        let mut share_rows = Vec::new();
        for &share in &a.repeat_shares {
            let requests = workload::generate(
                self.pairs,
                Mix {
                    repeat_share: share,
                    ..self.sweep_mix()
                },
            );
            let (r, _) = measured(
                &chain,
                &requests,
                a.sweep_concurrency,
                &format!("r{share}-{}", stamp()),
                &headers,
            )?;
            let d = direct(&self.llm, &requests, a.sweep_concurrency, &headers);
            self.progress(&format!("repeat share {share} done"));
            by_share.push((share, saved(r.upstream_tokens, d.upstream_tokens)));
            share_rows.push((share, r, d));
        }
        println!(
            "\n### Repeat share\n\n{} requests, concurrency {}, threshold 0.9.\n",
            a.sweep_requests, a.sweep_concurrency
        );
        println!("| repeat share | hit rate | wrong answers served | upstream tokens, chain / direct | tokens saved |");
        println!("|---:|---:|---:|---:|---:|");
        for (share, r, d) in &share_rows {
            println!(
                "| {share} | {:.1}% | {} | {} / {} | {:.1}% |",
                pct(r.hits, r.requests),
                r.wrong_hits,
                r.upstream_tokens,
                d.upstream_tokens,
                saved(r.upstream_tokens, d.upstream_tokens)
            );
        }

        Ok((
            by_share,
            json!(share_rows.iter().map(|(s, r, d)| json!({"repeat_share": s, "chain": report_json(r), "direct": report_json(d)})).collect::<Vec<_>>()),
        ))
    }
}

fn usage_json(u: &Usage) -> Value {
    json!({"cpu_s": u.cpu_s, "rss_kib": u.rss_kib, "peak_rss_kib": u.peak_rss_kib})
}

/// The figures as JSON, or `None` when the stack cannot run here (skipped, with a banner).
fn run(a: &Args, pairs: &[Pair], exe: &Path) -> Result<Option<Value>, String> {
    let started = Instant::now();
    let load_before = load_average();
    let Some(stack) = Stack::start_or_skip("ai-workload") else {
        return Ok(None);
    };
    let bench = Bench {
        a,
        pairs,
        exe,
        llm: stack.llm.base_url(),
        stack,
        chain_yaml: e2e_clients::stack::rendered_chain()?,
        ttft_ms: a.llm_ttft_ms.to_string(),
        started,
    };
    bench.progress("stack ready");
    let paths = bench.compare_paths()?;
    let (by_threshold, thresholds) = bench.threshold_sweep()?;
    let (by_share, shares) = bench.share_sweep()?;

    if let Some(dir) = a.svg.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    e2e_clients::chart::write_svg(&a.svg, &by_threshold, &by_share)?;
    println!(
        "\nMachine: {} cores, load average {} before / {} after; {} build; {:.0} s in all. Chart: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_before,
        load_average(),
        if cfg!(debug_assertions) { "debug" } else { "optimised" },
        started.elapsed().as_secs_f64(),
        a.svg.display()
    );
    Ok(Some(json!({
        "levels": paths["levels"],
        "chain_start": paths["chain_start"],
        "thresholds": thresholds["thresholds"],
        "threshold_direct": thresholds["direct"],
        "repeat_shares": shares,
        "svg": a.svg.display().to_string(),
    })))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(gateway_process::SERVE_FLAG) {
        let Some(config) = args.get(1) else {
            eprintln!("{} needs a config file", gateway_process::SERVE_FLAG);
            return ExitCode::from(2);
        };
        return match higress_ai_gateway::run(Path::new(config)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("gateway: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let a = match parse(&args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("ai-workload: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let pairs = match workload::load_pairs(&a.data) {
        Ok(p) if !p.is_empty() => p,
        Ok(_) => {
            eprintln!("ai-workload: {} has no pairs", a.data.display());
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("ai-workload: {e}");
            return ExitCode::FAILURE;
        }
    };
    let most = a.mix.requests.max(a.sweep_requests);
    if most > pairs.len() {
        eprintln!(
            "ai-workload: {most} requests need as many pairs; {} has {}",
            a.data.display(),
            pairs.len()
        );
        return ExitCode::from(2);
    }
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("ai-workload: own executable: {e}");
            return ExitCode::FAILURE;
        }
    };
    match run(&a, &pairs, &exe) {
        Ok(None) => ExitCode::from(SKIPPED),
        Ok(Some(figures)) => {
            if let Some(path) = &a.json {
                if let Err(e) = std::fs::write(path, figures.to_string()) {
                    eprintln!("ai-workload: {}: {e}", path.display());
                    return ExitCode::FAILURE;
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ai-workload: {e}");
            ExitCode::FAILURE
        }
    }
}
