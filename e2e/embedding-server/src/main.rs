use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use embedding_server::handle::DEFAULT_MAX_BATCH;
use embedding_server::model::Model;
use embedding_server::model_dir;
use embedding_server::queue::Queue;
use embedding_server::routes;

const USAGE: &str = "\
usage: embedding-server [--listen ADDR] [--model-dir DIR] [--max-batch N]
  --listen ADDR     address to bind (default 127.0.0.1:8090; port 0 picks a free port)
  --model-dir DIR   all-MiniLM-L6-v2 files (config.json, model.safetensors, tokenizer.json);
                    default: $EMBEDDING_MODEL_DIR, else installed by e2e/services/embedding-model.sh
  --max-batch N     most inputs merged into one batch (default 256)
Prints `listening on http://ADDR` on stdout once ready.
";

struct Args {
    listen: SocketAddr,
    model_dir: Option<PathBuf>,
    max_batch: usize,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut parsed = Args {
        listen: SocketAddr::from(([127, 0, 0, 1], 8090)),
        model_dir: None,
        max_batch: DEFAULT_MAX_BATCH,
    };
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--help" | "-h" => return Ok(None),
            "--listen" => {
                let v = value()?;
                parsed.listen = v.parse().map_err(|e| format!("--listen {v}: {e}"))?;
            }
            "--model-dir" => parsed.model_dir = Some(PathBuf::from(value()?)),
            "--max-batch" => {
                let v = value()?;
                parsed.max_batch = match v.parse() {
                    Ok(n) if n > 0 => n,
                    _ => return Err(format!("--max-batch {v}: expected a positive integer")),
                };
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Some(parsed))
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("embedding-server: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let dir = match args.model_dir.map_or_else(model_dir::locate, Ok) {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!("embedding-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    let queue = match Model::load(&dir).and_then(|m| Ok(Queue::start(m, args.max_batch)?)) {
        Ok(queue) => queue,
        Err(e) => {
            eprintln!("embedding-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("embedding-server: model {}", dir.display());
    e2e_http_server::run_main("embedding-server", args.listen, move |req| {
        routes::handle(queue.clone(), req)
    })
}
