//! `asana-fake` binary: runs the fake Asana server until Ctrl-C / SIGTERM and
//! prints one JSON line describing it on stdout.

use std::net::SocketAddr;

use asana_fake::{FakeAsana, FakeOptions};
use clap::Parser;

/// Command-line options.
#[derive(Parser, Debug)]
#[command(name = "asana-fake", about = "In-memory fake of Asana's REST API")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,
    /// The only accepted bearer token (default: any non-empty token).
    #[arg(long)]
    token: Option<String>,
    /// Per-token limit of requests per minute.
    #[arg(long)]
    rate_limit: Option<u32>,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let opts = FakeOptions {
        token: args.token,
        rate_limit_per_minute: args.rate_limit,
    };
    let fake = FakeAsana::start_on(args.addr, opts).await?;
    let line = serde_json::json!({
        "base_url": fake.base_url(),
        "workspace_gid": fake.workspace_gid(),
        "project_gid": fake.project_gid(),
        "token": fake.token(),
    });
    println!("{line}");
    wait_for_signal().await;
    fake.shutdown().await;
    Ok(())
}

/// Resolves on Ctrl-C or (on Unix) SIGTERM.
async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
