//! Instance configuration and its command line. Hand-parsed: a dozen flags do not justify clap's
//! build time on a shared two-core machine.

use std::net::SocketAddr;
use std::time::Duration;

use crate::fault::FaultSpec;

pub const USAGE: &str = "\
mock-llm: deterministic OpenAI-compatible mock LLM provider

USAGE: mock-llm [OPTIONS]

  --listen ADDR         address to bind (default 127.0.0.1:0; the bound address is printed)
  --ttft-ms MS          default time to first token (default 0)
  --tps RATE            default tokens per second, 0 = unpaced (default 0)
  --fault SPEC          instance fault, e.g. status=503 or reset-mid-stream=3 (see README)
  --fail-ratio R        share of requests (0..=1) that get the instance fault (default 1;
                        with no --fault, the fault is status=503)
  --seed N              seed of the deterministic fail sequence (default 0)
  --require-key KEY     require `Authorization: Bearer KEY` or `api-key: KEY` (else 401)
  --model NAME          model listed by /v1/models; repeatable (default gpt-4o-mini, gpt-4o, qwen-turbo)
  --strict-models       404 model_not_found for a model not listed
  --history N           request bodies kept for /mock/requests (default 100)
  --max-body-bytes N    largest accepted request body (default 8388608)
  -h, --help            this text
";

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub listen: SocketAddr,
    pub ttft: Duration,
    /// Tokens per second; 0 means no pacing.
    pub tps: f64,
    pub fault: Option<FaultSpec>,
    pub fail_ratio: f64,
    pub seed: u64,
    pub require_key: Option<String>,
    pub models: Vec<String>,
    pub strict_models: bool,
    pub history: usize,
    pub max_body_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            ttft: Duration::ZERO,
            tps: 0.0,
            fault: None,
            fail_ratio: 1.0,
            seed: 0,
            require_key: None,
            models: ["gpt-4o-mini", "gpt-4o", "qwen-turbo"]
                .map(String::from)
                .to_vec(),
            strict_models: false,
            history: 100,
            max_body_bytes: 8 << 20,
        }
    }
}

/// What the command line asked for.
#[derive(Debug, PartialEq)]
pub enum Command {
    Run(Config),
    Help,
}

/// Parses `tps` values from flags and headers: finite, and either 0 or at least 0.001.
pub fn parse_tps(v: &str) -> Option<f64> {
    v.trim()
        .parse::<f64>()
        .ok()
        .filter(|t| t.is_finite() && (*t == 0.0 || (0.001..=1e9).contains(t)))
}

pub fn parse_args<I: IntoIterator<Item = String>>(args: I) -> Result<Command, String> {
    let mut config = Config::default();
    let mut models: Vec<String> = Vec::new();
    let mut ratio_given = false;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        let bad = |what: &str| format!("{flag}: expected {what}");
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--listen" => {
                config.listen = value()?
                    .parse()
                    .map_err(|_| bad("an address like 127.0.0.1:0"))?
            }
            "--ttft-ms" => {
                config.ttft =
                    Duration::from_millis(value()?.parse().map_err(|_| bad("milliseconds"))?)
            }
            "--tps" => {
                config.tps =
                    parse_tps(&value()?).ok_or_else(|| bad("0 or a rate in 0.001..=1e9"))?
            }
            "--fault" => config.fault = Some(value()?.parse().map_err(|e| format!("{flag}: {e}"))?),
            "--fail-ratio" => {
                config.fail_ratio = value()?
                    .parse::<f64>()
                    .ok()
                    .filter(|r| (0.0..=1.0).contains(r))
                    .ok_or_else(|| bad("a number in 0..=1"))?;
                ratio_given = true;
            }
            "--seed" => config.seed = value()?.parse().map_err(|_| bad("an unsigned integer"))?,
            "--require-key" => config.require_key = Some(value()?).filter(|k| !k.is_empty()),
            "--model" => models.push(value()?),
            "--strict-models" => config.strict_models = true,
            "--history" => config.history = value()?.parse().map_err(|_| bad("a count"))?,
            "--max-body-bytes" => {
                config.max_body_bytes = value()?.parse().map_err(|_| bad("a byte count"))?
            }
            _ => return Err(format!("unknown argument `{arg}` (try --help)")),
        }
    }
    if !models.is_empty() {
        config.models = models;
    }
    if ratio_given && config.fault.is_none() {
        config.fault = Some(FaultSpec {
            action: Some(crate::fault::FaultAction::Status(503)),
            ..Default::default()
        });
    }
    Ok(Command::Run(config))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::FaultAction;

    fn run(args: &[&str]) -> Result<Config, String> {
        match parse_args(args.iter().map(|s| s.to_string()))? {
            Command::Run(c) => Ok(c),
            Command::Help => Err("help".into()),
        }
    }

    #[test]
    fn parses_flags_in_both_forms() {
        let c = run(&[
            "--listen",
            "127.0.0.1:8080",
            "--ttft-ms=250",
            "--tps",
            "20",
            "--model",
            "a",
            "--model=b",
            "--require-key",
            "k",
            "--strict-models",
            "--history",
            "5",
        ])
        .unwrap();
        assert_eq!(c.listen.port(), 8080);
        assert_eq!(c.ttft, Duration::from_millis(250));
        assert_eq!(c.tps, 20.0);
        assert_eq!(c.models, ["a", "b"]);
        assert_eq!(c.require_key.as_deref(), Some("k"));
        assert!(c.strict_models);
        assert_eq!(c.history, 5);
        assert_eq!(run(&[]).unwrap(), Config::default());
        assert_eq!(run(&["--help"]), Err("help".into()));
    }

    #[test]
    fn fail_ratio_alone_defaults_to_503() {
        let c = run(&["--fail-ratio", "0.5", "--seed", "9"]).unwrap();
        assert_eq!(c.fault.unwrap().action, Some(FaultAction::Status(503)));
        assert_eq!((c.fail_ratio, c.seed), (0.5, 9));
        let c = run(&["--fault", "reset-before-headers"]).unwrap();
        assert_eq!(c.fail_ratio, 1.0);
    }

    #[test]
    fn rejects_bad_input_with_a_message() {
        for bad in [
            &["--tps", "-1"][..],
            &["--tps", "NaN"],
            &["--fail-ratio", "2"],
            &["--fault", "boom"],
            &["--listen", "nope"],
            &["--ttft-ms"],
            &["--what"],
        ] {
            let e = run(bad).unwrap_err();
            assert!(!e.is_empty() && e != "help", "{bad:?}");
        }
    }
}
