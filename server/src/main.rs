//! `talon`: the server, REST API, MCP door, dashboard and client commands in one binary.

use clap::Parser;

fn main() {
    std::process::exit(server::run(server::config::Cli::parse()));
}
