//! `e2e-scenarios --base-url URL [--mock-url URL] [--only a,b] [--list]`: the end-to-end
//! scenarios (see shipping::scenarios) against a gateway. Exit status 1 when one fails.

use shipping::scenarios;

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut base, mut mock, mut only) = (None, None, Vec::new());
    while let Some(a) = args.next() {
        match a.as_str() {
            "--base-url" => base = args.next(),
            "--mock-url" => mock = args.next(),
            "--only" => {
                only = args
                    .next()
                    .unwrap_or_default()
                    .split(',')
                    .map(str::to_owned)
                    .collect()
            }
            "--list" => {
                for s in scenarios::all() {
                    println!("{}: {}", s.name, s.what);
                }
                return;
            }
            other => {
                eprintln!("e2e-scenarios: unknown argument {other}\nusage: e2e-scenarios --base-url URL [--mock-url URL] [--only a,b] [--list]");
                std::process::exit(2);
            }
        }
    }
    let Some(base) = base else {
        eprintln!("e2e-scenarios: --base-url is required");
        std::process::exit(2);
    };
    let names: Vec<&str> = scenarios::all().iter().map(|s| s.name).collect();
    if let Some(bad) = only.iter().find(|o| !names.contains(&o.as_str())) {
        eprintln!(
            "e2e-scenarios: unknown scenario {bad} (known: {})",
            names.join(", ")
        );
        std::process::exit(2);
    }
    let ok = scenarios::run(&scenarios::Target::new(&base, mock.as_deref()), &only);
    std::process::exit(i32::from(!ok));
}
