//! `make demo`: a scripted session through the chain `make run` started, printed as a table.

use std::path::PathBuf;
use std::process::ExitCode;

use e2e_clients::demo::{self, Endpoints, Prices};

const USAGE: &str = "\
usage: ai-demo [--state DIR] [--model NAME] [--input-price USD] [--output-price USD]
  --state DIR          where `make run` wrote endpoints.env (default .cache/run, or $RUN_STATE)
  --model NAME         model asked for (default gpt-4o-mini, or $LLM_MODEL)
  --input-price USD    price per million input tokens, for the money saved (default 0.15)
  --output-price USD   price per million output tokens (default 0.60)
Environment: AI_GATEWAY_URL (gateway root, overrides endpoints.env), LLM_API_KEY (sent as Bearer;
  `make run` with LLM_BASE_URL already sends it to the provider from the gateway's route).
";

fn parse_price(flag: &str, v: Option<String>) -> Result<f64, String> {
    let v = v.ok_or(format!("{flag} needs a value"))?;
    match v.parse::<f64>() {
        Ok(p) if p.is_finite() && p >= 0.0 => Ok(p),
        _ => Err(format!("{flag} {v}: expected a non-negative number")),
    }
}

fn main() -> ExitCode {
    let mut state =
        PathBuf::from(std::env::var("RUN_STATE").unwrap_or_else(|_| ".cache/run".into()));
    let mut model = std::env::var("LLM_MODEL").unwrap_or_else(|_| "gpt-4o-mini".into());
    let mut prices = Prices::default();
    let mut args = std::env::args().skip(1);
    let parsed: Result<(), String> = (|| {
        while let Some(a) = args.next() {
            match a.as_str() {
                "--state" => state = PathBuf::from(args.next().ok_or("--state needs a value")?),
                "--model" => model = args.next().ok_or("--model needs a value")?,
                "--input-price" => prices.input_per_mtok = parse_price(&a, args.next())?,
                "--output-price" => prices.output_per_mtok = parse_price(&a, args.next())?,
                "--help" | "-h" => {
                    print!("{USAGE}");
                    std::process::exit(0);
                }
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        Ok(())
    })();
    if let Err(e) = parsed {
        eprintln!("ai-demo: {e}\n{USAGE}");
        return ExitCode::from(2);
    }
    let api_key = std::env::var("LLM_API_KEY").ok();
    let endpoints = match std::env::var("AI_GATEWAY_URL") {
        Ok(url) => Endpoints::from_endpoints_env(&format!("GATEWAY_URL={url}"), api_key),
        Err(_) => {
            let file = state.join("endpoints.env");
            std::fs::read_to_string(&file)
                .map_err(|e| {
                    format!("{e}\nstart the chain first: `make run` (in another terminal)")
                })
                .and_then(|text| Endpoints::from_endpoints_env(&text, api_key))
                .map_err(|e| format!("{}: {e}", file.display()))
        }
    };
    let ep = match endpoints {
        Ok(ep) => ep,
        Err(e) => {
            eprintln!("ai-demo: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("demo session through {} (model {model})\n", ep.base_url);
    match demo::run(&ep, &model, prices) {
        Ok(summary) => {
            print!("{}", demo::render(&summary, prices));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ai-demo: {e}");
            ExitCode::FAILURE
        }
    }
}
