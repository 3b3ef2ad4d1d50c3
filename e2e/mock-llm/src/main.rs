use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use mock_llm::config::{parse_args, Command, USAGE};
use mock_llm::server::serve;
use mock_llm::state::State;

fn main() -> ExitCode {
    let config = match parse_args(std::env::args().skip(1)) {
        Ok(Command::Run(config)) => config,
        Ok(Command::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("mock-llm: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mock-llm: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(config.listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("mock-llm: cannot bind {}: {e}", config.listen);
                return ExitCode::FAILURE;
            }
        };
        let addr = match listener.local_addr() {
            Ok(a) => a,
            Err(e) => {
                eprintln!("mock-llm: {e}");
                return ExitCode::FAILURE;
            }
        };
        // Scripts start the mock on port 0 and read this one line to learn where it is.
        println!("listening on http://{addr}");
        let _ = std::io::stdout().flush();
        serve(
            listener,
            Arc::new(State::new(config)),
            std::future::pending(),
        )
        .await;
        ExitCode::SUCCESS
    })
}
