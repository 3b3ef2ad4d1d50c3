use std::process::ExitCode;
use std::sync::Arc;

use mock_llm::config::{parse_args, Command, USAGE};
use mock_llm::routes;
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
    let listen = config.listen;
    let state = Arc::new(State::new(config));
    e2e_http_server::run_main("mock-llm", listen, move |req| {
        routes::handle(state.clone(), req)
    })
}
