//! `cargo run --profile native-release -p semantic-cache-quality -- [--limit N] ...`: prints the
//! quality benchmark's markdown tables (see the crate docs and the semantic-cache README).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use semantic_cache_quality::harness::{self, Services, Settings, Unavailable};
use semantic_cache_quality::{data, pairs, report, scenarios};

const USAGE: &str = "\
usage: semantic-cache-quality [--limit N] [--scenario-pairs N] [--data DIR] [--vector TYPE] [--top-k K]
                              [--only qqp,gptcache,scenarios]
  --limit N           first N pairs of each data set (default: all; 200 is the smoke size)
  --scenario-pairs N  GPTCache pairs used by the partition-safety scenarios (default 100)
  --data DIR          qqp-dev.jsonl and gptcache-paraphrase.json (default $CACHE_QUALITY_DATA,
                      else shared/data beside the repository)
  --vector TYPE       vector.type: redis (RediSearch, default) or redis-vectorset
  --top-k K           vector.topK (default 3)
  --only LIST         parts to run (default all)
";

struct Args {
    limit: usize,
    scenario_pairs: usize,
    data: PathBuf,
    vector: String,
    top_k: u32,
    only: Vec<String>,
}

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut a = Args {
        limit: usize::MAX,
        scenario_pairs: 100,
        data: data::default_dir(),
        vector: "redis".into(),
        top_k: 3,
        only: vec!["qqp".into(), "gptcache".into(), "scenarios".into()],
    };
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        let number = |v: String| v.parse::<usize>().map_err(|e| format!("{flag} {v}: {e}"));
        match flag.as_str() {
            "--help" | "-h" => return Ok(None),
            "--limit" => a.limit = number(value()?)?,
            "--scenario-pairs" => a.scenario_pairs = number(value()?)?,
            "--data" => a.data = PathBuf::from(value()?),
            "--vector" => a.vector = value()?,
            "--top-k" => a.top_k = number(value()?)? as u32,
            "--only" => a.only = value()?.split(',').map(str::to_string).collect(),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if let Some(bad) = a
        .only
        .iter()
        .find(|p| !["qqp", "gptcache", "scenarios"].contains(&p.as_str()))
    {
        return Err(format!("--only: unknown part {bad:?}"));
    }
    Ok(Some(a))
}

fn run(a: &Args) -> Result<(), String> {
    let started = Instant::now();
    harness::wasm()?;
    let services = Services::start().map_err(|e| match e {
        Unavailable::Skip(m) | Unavailable::Failed(m) => m,
    })?;
    let base = Settings {
        threshold: pairs::PERMISSIVE_THRESHOLD,
        verify: false,
        top_k: a.top_k,
        vector: a.vector.clone(),
        collection: String::new(),
    };
    println!(
        "# semantic-cache quality (vector.type {}, topK {}, all-MiniLM-L6-v2)\n",
        a.vector, a.top_k
    );
    if a.only.iter().any(|p| p == "qqp") {
        let pairs = data::qqp(&a.data, a.limit)?;
        let r = pairs::run(&services, &base, "qqp", &pairs)?;
        println!(
            "## QQP dev\n\n{}\nFilled {} entries in {:.0} s; two lookup passes in {:.0} s.\n",
            report::qqp(&r.without_verify, &r.with_verify),
            r.stored,
            r.fill_secs,
            r.lookup_secs
        );
    }
    if a.only.iter().any(|p| p == "gptcache") {
        let pairs = data::gptcache(&a.data, a.limit)?;
        let r = pairs::run(&services, &base, "gptcache", &pairs)?;
        println!(
            "## GPTCache paraphrase set\n\n{}\nFilled {} entries in {:.0} s; two lookup passes in {:.0} s.\n",
            report::gptcache(&r.without_verify, &r.with_verify),
            r.stored,
            r.fill_secs,
            r.lookup_secs
        );
    }
    if a.only.iter().any(|p| p == "scenarios") {
        let pairs = data::gptcache(&a.data, a.scenario_pairs)?;
        let results = scenarios::run(&services, &base, &pairs)?;
        println!("## Partition safety\n\n{}", report::scenarios(&results));
        let cross: usize = results.iter().map(|r| r.cross_partition_hits).sum();
        if cross > 0 {
            return Err(format!("{cross} cross-partition hits"));
        }
    }
    println!("Total run time {:.0} s.", started.elapsed().as_secs_f64());
    Ok(())
}

fn main() -> ExitCode {
    match parse_args(std::env::args().skip(1)) {
        Ok(Some(args)) => match run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("semantic-cache-quality: {e}");
                ExitCode::FAILURE
            }
        },
        Ok(None) => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("semantic-cache-quality: {e}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}
