//! `higress-ai-gateway --config gateway.yaml [--check]`

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: higress-ai-gateway --config <file.yaml> [--check]
  --config, -c   gateway config (Gateway + WasmPlugin YAML documents)
  --check        validate the config (and compile/configure plugins), then exit";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut config = None;
    let mut check = false;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--config" | "-c" => config = args.next().map(PathBuf::from),
            "--check" => check = true,
            "--help" | "-h" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("unknown argument {other:?}\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let Some(config) = config else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let result = if check {
        higress_ai_gateway::check(&config).map(|summary| println!("{summary}"))
    } else {
        higress_ai_gateway::run(&config)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("config error: {e}");
            ExitCode::from(1)
        }
    }
}
