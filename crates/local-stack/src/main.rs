//! `rcr-local run|stop|status|clean`: the local stack (see `make run`).

use std::path::PathBuf;
use std::process::ExitCode;

use local_stack::{Options, Stack};

const USAGE: &str = "usage: rcr-local [run|stop|status|clean|bench] [--regions sa,na,eu,asia] [--readers N] [--state DIR] [--bin DIR]";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let command = args.next().unwrap_or_else(|| "run".into());
    let root = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let mut options = Options {
        state_dir: root.join(".local"),
        bin_dir: root.join("target/release"),
        root,
        regions: local_stack::ALL_REGIONS
            .iter()
            .map(|r| (*r).to_owned())
            .collect(),
        readers_per_region: 1,
        free_ports: false,
        docs_assets: true,
    };
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_default();
        match flag.as_str() {
            "--regions" if !value.is_empty() => {
                options.regions = value
                    .split(',')
                    .map(|r| r.trim().to_owned())
                    .filter(|r| !r.is_empty())
                    .collect();
            }
            "--regions" => {}
            "--readers" => options.readers_per_region = value.parse().unwrap_or(1).clamp(1, 8),
            "--state" => options.state_dir = PathBuf::from(value),
            "--bin" => options.bin_dir = PathBuf::from(value),
            _ => {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    if let Some(bad) = options
        .regions
        .iter()
        .find(|r| !local_stack::ALL_REGIONS.contains(&r.as_str()))
    {
        eprintln!("rcr-local: unknown region {bad} (sa, na, eu, asia)");
        return ExitCode::from(2);
    }
    if !options.regions.iter().any(|r| r == "sa") {
        // auth and the writer live in South America; its region always runs.
        options.regions.insert(0, "sa".into());
    }
    let stack = Stack::new(options);
    let result = match command.as_str() {
        "run" => stack.start().map(|started| {
            if started.started_now {
                println!("The stack is running.");
            } else {
                println!("The stack is already running; nothing was changed.");
            }
            println!();
            for region in &started.layout.regions {
                if let Some(url) = started.layout.gateway_url(region) {
                    println!("  gateway {region:<5} {url}   (API docs: {url}/docs)");
                }
            }
            println!();
            println!("  admin email     {}", started.admin_email);
            println!("  admin password  {}", started.admin_password);
            println!();
            println!("make status shows every process; make stop stops them; make clean deletes the state.");
        }),
        "stop" => stack.stop().map(|()| println!("stopped")),
        "status" => {
            for line in stack.status() {
                println!("{line}");
            }
            Ok(())
        }
        "clean" => stack.clean().map(|()| println!("stopped and deleted")),
        "bench" => {
            let seconds = std::env::var("BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
            let options = local_stack::bench::BenchOptions {
                seconds,
                warmup_seconds: (seconds / 3).max(1),
                connections: 32,
                only: std::env::var("BENCH_ONLY")
                    .unwrap_or_default()
                    .split('|')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
            };
            local_stack::bench::run(&stack, options).map(|report| {
                println!("\n{report}");
            })
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rcr-local: {e}");
            ExitCode::FAILURE
        }
    }
}
