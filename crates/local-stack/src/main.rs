//! `rcr-local run|stop|status|clean|bench|backup|restore|failover|reattach`:
//! the local stack's command line
//! (see `make run`). Parsing refuses what it cannot use, with the reason;
//! the work is done by the library, so the system tests share it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use local_stack::backups::BackupKind;
use local_stack::bench::BenchOptions;
use local_stack::edge::Edge;
use local_stack::seeding::DataSet;
use local_stack::wan::{Link, LinkKind, WanProfile};
use local_stack::{ALL_REGIONS, Options, RestoreTarget, Stack, StackError, Started};

/// Starts, stops and inspects the whole system on one machine.
#[derive(Debug, Parser)]
#[command(
    name = "rcr-local",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    /// What to do; `run` when omitted.
    #[command(subcommand)]
    command: Option<Command>,
    /// `run`'s flags, for when the subcommand is omitted.
    #[command(flatten)]
    run: StackArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start everything that is not running, from the saved state if any (`make run`).
    Run(StackArgs),
    /// Stop every process of the stack (`make stop`).
    Stop(StateArgs),
    /// One line per process: its port, whether it answers, replica lag, TLS (`make status`).
    Status(StateArgs),
    /// Stop the stack and delete its state (`make clean`).
    Clean(StateArgs),
    /// Load the stack (started if needed) with wrk against nginx ceilings (`make bench`).
    Bench {
        #[command(flatten)]
        stack: StackArgs,
        #[command(flatten)]
        bench: BenchArgs,
    },
    /// Cut (or heal) a region's link to South America (`make run WAN=1`).
    Partition(PartitionArgs),
    /// Back up the primary with pgBackRest now (`make backup`).
    Backup {
        #[command(flatten)]
        state: StateArgs,
        /// full, diff (since the last full) or incr (since the last backup).
        #[arg(long = "type", default_value = "full", value_parser = BackupKind::parse)]
        kind: BackupKind,
    },
    /// Restore the data to an instant, re-seed every copy, empty every cache (`make restore`).
    Restore {
        #[command(flatten)]
        state: StateArgs,
        /// `latest`, or an RFC 3339 time (2026-12-01T09:30:00Z).
        #[arg(long, value_parser = RestoreTarget::parse)]
        target: RestoreTarget,
    },
    /// Promote South America's standby after the primary died (`make failover`).
    Failover {
        #[command(flatten)]
        state: StateArgs,
        /// Stop a primary that still runs (an immediate shutdown) instead of refusing.
        #[arg(long)]
        force: bool,
    },
    /// Take the former primary back as the standby after a failover (`make reattach`).
    Reattach(StateArgs),
    /// Serve one delaying link between continents (the stack starts these).
    #[command(hide = true)]
    WanLink(WanLinkArgs),
}

/// Which link `partition` cuts or heals.
#[derive(Debug, Args)]
struct PartitionArgs {
    #[command(flatten)]
    state: StateArgs,
    /// The region whose link to South America changes.
    #[arg(long)]
    region: String,
    /// The link: replication, fallback, auth or writer.
    #[arg(long, default_value = "replication", value_parser = link_kind)]
    link: LinkKind,
    /// Heal the link instead of cutting it.
    #[arg(long)]
    heal: bool,
}

fn link_kind(text: &str) -> Result<LinkKind, String> {
    LinkKind::ALL
        .into_iter()
        .find(|k| k.as_str() == text)
        .ok_or_else(|| format!("`{text}`: one of replication, fallback, auth, writer"))
}

/// One link, as the stack starts it.
#[derive(Debug, Args)]
struct WanLinkArgs {
    #[arg(long)]
    listen: std::net::SocketAddr,
    /// Where it leads: the first of these that accepts (repeat `--to`).
    #[arg(long, required = true)]
    to: Vec<std::net::SocketAddr>,
    #[arg(long)]
    delay_ms: u64,
    #[arg(long)]
    partition_file: PathBuf,
}

/// Where the stack keeps its state.
#[derive(Debug, Args)]
struct StateArgs {
    /// The folder holding all state: data, logs, secrets, the port layout.
    #[arg(long, value_name = "DIR", default_value = ".local")]
    state: PathBuf,
}

/// What a start needs beyond the state folder.
#[derive(Debug, Args)]
struct StackArgs {
    #[command(flatten)]
    state: StateArgs,
    /// The regions to run, comma-separated; `sa` always runs (auth and the
    /// writer live there).
    #[arg(long, value_name = "LIST", default_value_t = Regions::all(), value_parser = Regions::parse)]
    regions: Regions,
    /// Readers behind each region's gateway.
    // At most 8: each region numbers its readers' ports within a block of ten.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=8))]
    readers: u8,
    /// The folder holding the `auth`, `reviews-writer` and `content-reader` binaries.
    #[arg(long = "bin", value_name = "DIR", default_value = "target/release")]
    bin_dir: PathBuf,
    /// Continents apart: delay every cross-region link (SPEC §10.4), by
    /// `--wan-delays` (default na:60,eu:100,asia:150 ms one way).
    #[arg(long)]
    wan: bool,
    /// The one-way delays of `--wan`: `region:ms,…`.
    #[arg(long, value_name = "LIST", env = "WAN_DELAYS", default_value = "na:60,eu:100,asia:150", value_parser = WanProfile::parse)]
    wan_delays: WanProfile,
}

/// How long and what `bench` measures; the environment variables are what
/// `make bench` documents.
#[derive(Debug, Args)]
struct BenchArgs {
    /// Seconds each scenario is measured, after a warm-up of a third of it.
    #[arg(long, value_name = "S", env = "BENCH_SECONDS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..))]
    seconds: u64,
    /// Only the scenarios whose names contain one of these `|`-separated parts.
    #[arg(long, value_name = "PARTS", env = "BENCH_ONLY", default_value = "")]
    only: String,
    /// Reviews in the data set (made or topped up before measuring; with
    /// subjects and editors in proportion).
    #[arg(long, value_name = "N", env = "BENCH_REVIEWS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(100..=10_000_000))]
    reviews: u64,
}

/// Known regions, each once, in the order given, South America first when
/// it was not named.
#[derive(Debug, Clone)]
struct Regions(Vec<String>);

impl Regions {
    fn all() -> Self {
        Self(ALL_REGIONS.iter().map(|r| (*r).to_owned()).collect())
    }

    /// `sa, eu` → `[sa, eu]`; blanks between commas are ignored and an
    /// empty list means every region (`make run REGIONS=`).
    fn parse(text: &str) -> Result<Self, String> {
        let mut regions: Vec<String> = Vec::new();
        for region in text.split(',').map(str::trim).filter(|r| !r.is_empty()) {
            if !ALL_REGIONS.contains(&region) {
                return Err(format!(
                    "unknown region `{region}` (known: {})",
                    ALL_REGIONS.join(", ")
                ));
            }
            if !regions.iter().any(|r| r == region) {
                regions.push(region.to_owned());
            }
        }
        if regions.is_empty() {
            return Ok(Self::all());
        }
        if !regions.iter().any(|r| r == "sa") {
            regions.insert(0, "sa".to_owned());
        }
        Ok(Self(regions))
    }
}

impl fmt::Display for Regions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(","))
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match execute(cli.command.unwrap_or(Command::Run(cli.run))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rcr-local: {e}");
            ExitCode::FAILURE
        }
    }
}

fn execute(command: Command) -> Result<(), StackError> {
    let root =
        std::env::current_dir().map_err(|e| StackError::new(format!("no current folder: {e}")))?;
    match command {
        Command::Run(args) => {
            let stack = stack(&root, &args)?;
            stack.start().map(|s| print_started(&s, &stack))
        }
        Command::Stop(args) => state_only(&root, &args)
            .stop()
            .map(|()| println!("stopped")),
        Command::Status(args) => {
            for line in state_only(&root, &args).status() {
                println!("{line}");
            }
            Ok(())
        }
        Command::Clean(args) => state_only(&root, &args)
            .clean()
            .map(|()| println!("stopped and deleted")),
        Command::Partition(args) => state_only(&root, &args.state)
            .partition(&args.region, args.link, !args.heal)
            .map(|()| {
                let done = if args.heal { "healed" } else { "cut" };
                println!("{} link of {} {done}", args.link.as_str(), args.region);
            }),
        Command::Backup { state, kind } => backup(&state_only(&root, &state), kind),
        Command::Restore { state, target } => restore(&state_only(&root, &state), &target),
        Command::Failover { state, force } => failover(&state_only(&root, &state), force),
        Command::Reattach(state) => state_only(&root, &state).reattach().map(|node| {
            println!(
                "pg/{} (port {}) is the synchronous standby again",
                node.folder, node.port
            );
        }),
        Command::WanLink(args) => Link {
            listen: args.listen,
            targets: args.to,
            delay: std::time::Duration::from_millis(args.delay_ms),
            partition_file: args.partition_file,
        }
        .serve()
        .map_err(|e| StackError::new(format!("wan link {}: {e}", args.listen))),
        Command::Bench { stack: args, bench } => {
            let options = BenchOptions {
                seconds: bench.seconds,
                warmup_seconds: (bench.seconds / 3).max(1),
                connections: 32,
                only: bench
                    .only
                    .split('|')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
                data: DataSet {
                    reviews: bench.reviews,
                },
            };
            local_stack::bench::run(&stack(&root, &args)?, options)
                .map(|report| println!("\n{report}"))
        }
    }
}

/// `rcr-local backup`: one backup, and what it took.
fn backup(stack: &Stack, kind: BackupKind) -> Result<(), StackError> {
    let set = stack.backup(kind)?;
    println!(
        "backup {} ({}) of {:.1} MiB in {} s, {:.1} MiB in the repository",
        set.label,
        set.kind,
        mib(set.database_bytes),
        set.stopped - set.started,
        mib(set.repository_bytes)
    );
    Ok(())
}

/// `rcr-local restore`: the stack's data back to `target`.
fn restore(stack: &Stack, target: &RestoreTarget) -> Result<(), StackError> {
    let report = stack.restore(target)?;
    println!(
        "restored to {} in {:.1} s (replay {:.1} s); content version {} → {}; \
         every copy re-seeded, every cache emptied",
        report.target,
        report.total.as_secs_f64(),
        report.replay.as_secs_f64(),
        report.version_before,
        report.version_after
    );
    Ok(())
}

/// `rcr-local failover`: the standby promoted.
fn failover(stack: &Stack, force: bool) -> Result<(), StackError> {
    let report = stack.failover(force)?;
    println!(
        "promoted pg/{} (port {}, timeline {}) in {:.1} s; replicas follow ({} rewound); \
         it runs alone until `make reattach` takes pg/{} back as its standby",
        report.primary.folder,
        report.primary.port,
        report.timeline,
        report.promote.as_secs_f64(),
        report.rejoined.len(),
        report.former.folder
    );
    Ok(())
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The stack these flags describe, rooted at the checkout `root`, with
/// the gateways' edge settings from the environment (`local_stack::edge`).
fn stack(root: &Path, args: &StackArgs) -> Result<Stack, StackError> {
    Ok(Stack::new(Options {
        regions: args.regions.0.clone(),
        readers_per_region: usize::from(args.readers),
        bin_dir: root.join(&args.bin_dir),
        edge: Edge::from_env()?,
        wan: args.wan.then(|| args.wan_delays.clone()),
        ..options(root, &args.state)
    }))
}

/// A stack known by its state folder only: stop, status and clean read
/// everything else from the saved layout.
fn state_only(root: &Path, args: &StateArgs) -> Stack {
    Stack::new(options(root, args))
}

/// The defaults of `run`, in the state folder of `args`.
fn options(root: &Path, args: &StateArgs) -> Options {
    Options {
        // Server programs run in folders of their own: relative paths
        // would not mean the same there.
        state_dir: root.join(&args.state),
        bin_dir: root.join("target/release"),
        root: root.to_path_buf(),
        regions: Regions::all().0,
        readers_per_region: 1,
        free_ports: false,
        docs_assets: true,
        edge: Edge::default(),
        wan: None,
        monitoring: true,
    }
}

fn print_started(started: &Started, stack: &Stack) {
    if started.started_now {
        println!("The stack is running.");
    } else {
        println!("The stack is already running; nothing was changed.");
    }
    println!();
    for region in &started.layout.regions {
        if let Some(url) = started.layout.gateway_url(region) {
            let https = started.layout.gateway_https_url(region).unwrap_or_default();
            println!("  gateway {region:<5} {url}   {https}   (API docs: {url}/docs)");
        }
    }
    println!();
    println!("  HTTPS: trust the local CA {}", stack.ca_cert().display());
    println!("         (curl --cacert {} …)", stack.ca_cert().display());
    println!("  PostgreSQL: TLS only on TCP, verified against the same CA");
    println!(
        "         (psql 'host=127.0.0.1 port={} user=postgres dbname=rcr sslmode=verify-full sslrootcert={}')",
        started.layout.primary,
        stack.ca_cert().display()
    );
    println!();
    println!("  admin email     {}", started.admin_email);
    println!("  admin password  {}", started.admin_password);
    println!();
    println!(
        "make status shows every process; make stop stops them; make clean deletes the state."
    );
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("rcr-local").chain(args.iter().copied()))
    }

    fn run_args(args: &[&str]) -> StackArgs {
        match parse(args).map(|cli| cli.command) {
            Ok(Some(Command::Run(args))) => args,
            other => panic!("not a run: {other:?}"),
        }
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn run_defaults_to_every_region_one_reader_and_the_checkout_folders() {
        let args = run_args(&["run"]);
        assert_eq!(args.regions.0, ALL_REGIONS);
        assert_eq!(args.readers, 1);
        assert_eq!(args.state.state, Path::new(".local"));
        assert_eq!(args.bin_dir, Path::new("target/release"));
    }

    #[test]
    fn the_makefile_flags_are_understood() {
        let args = run_args(&[
            "run",
            "--regions",
            "eu, sa",
            "--readers",
            "2",
            "--bin",
            "/b",
        ]);
        assert_eq!(args.regions.0, ["eu", "sa"]);
        assert_eq!(args.readers, 2);
        assert_eq!(args.bin_dir, Path::new("/b"));
    }

    #[test]
    fn south_america_always_runs_and_an_empty_list_means_every_region() {
        assert_eq!(
            run_args(&["run", "--regions", "eu,eu"]).regions.0,
            ["sa", "eu"]
        );
        assert_eq!(run_args(&["run", "--regions", ""]).regions.0, ALL_REGIONS);
    }

    #[test]
    fn a_reader_count_that_is_not_a_number_in_range_is_refused() {
        for bad in ["abc", "0", "9", "1.5"] {
            let error = parse(&["run", "--readers", bad]).expect_err(bad);
            assert_eq!(
                error.kind(),
                clap::error::ErrorKind::ValueValidation,
                "{bad}"
            );
        }
    }

    #[test]
    fn an_unknown_region_is_refused_by_name() {
        let error = parse(&["run", "--regions", "sa,mars"]).expect_err("mars");
        assert!(
            error.to_string().contains("unknown region `mars`"),
            "{error}"
        );
    }

    #[test]
    fn no_subcommand_is_a_run_and_unknown_ones_are_refused() {
        let cli = parse(&["--readers", "3"]).expect("run's flags alone");
        assert!(cli.command.is_none());
        assert_eq!(cli.run.readers, 3);
        assert!(parse(&["start"]).is_err());
        assert!(parse(&["--readers", "3", "stop"]).is_err());
    }

    #[test]
    fn restore_takes_latest_or_an_rfc_3339_time_and_nothing_else() {
        for (target, wanted) in [
            ("latest", RestoreTarget::Latest),
            (
                "2026-12-01T09:30:00Z",
                RestoreTarget::Time("2026-12-01 09:30:00+00:00".into()),
            ),
        ] {
            match parse(&["restore", "--target", target]).map(|cli| cli.command) {
                Ok(Some(Command::Restore { target, .. })) => assert_eq!(target, wanted),
                other => panic!("not a restore: {other:?}"),
            }
        }
        assert!(parse(&["restore"]).is_err());
        assert!(parse(&["restore", "--target", "yesterday"]).is_err());
    }

    #[test]
    fn failover_refuses_by_default_and_backup_takes_a_type() {
        assert!(matches!(
            parse(&["failover"]).map(|cli| cli.command),
            Ok(Some(Command::Failover { force: false, .. }))
        ));
        assert!(matches!(
            parse(&["failover", "--force"]).map(|cli| cli.command),
            Ok(Some(Command::Failover { force: true, .. }))
        ));
        assert!(matches!(
            parse(&["backup", "--type", "incr"]).map(|cli| cli.command),
            Ok(Some(Command::Backup {
                kind: BackupKind::Incr,
                ..
            }))
        ));
        assert!(parse(&["backup", "--type", "everything"]).is_err());
    }

    #[test]
    fn stop_status_and_clean_take_the_state_folder_only() {
        for command in ["stop", "status", "clean", "reattach"] {
            assert!(parse(&[command, "--state", "/s"]).is_ok(), "{command}");
            assert!(parse(&[command, "--readers", "2"]).is_err(), "{command}");
        }
    }

    #[test]
    fn bench_takes_the_stack_flags_and_its_seconds() {
        match parse(&[
            "bench",
            "--readers",
            "2",
            "--seconds",
            "4",
            "--only",
            "POST|login",
        ]) {
            Ok(Cli {
                command: Some(Command::Bench { stack, bench }),
                ..
            }) => {
                assert_eq!(stack.readers, 2);
                assert_eq!(bench.seconds, 4);
                assert_eq!(bench.only, "POST|login");
            }
            other => panic!("not a bench: {other:?}"),
        }
        assert!(parse(&["bench", "--seconds", "ten"]).is_err());
        match parse(&["bench", "--reviews", "100000"]) {
            Ok(Cli {
                command: Some(Command::Bench { bench, .. }),
                ..
            }) => assert_eq!(bench.reviews, 100_000),
            other => panic!("not a bench: {other:?}"),
        }
        assert!(parse(&["bench", "--reviews", "0"]).is_err());
    }
}
