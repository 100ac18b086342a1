//! Talon's server: the REST API (`/v1`), the MCP door (`/mcp`, `talon mcp`), the dashboard
//! and the `talon` client commands, over the core ([`talon_core`]). `main.rs` only parses the
//! command line and calls [`run`].

pub mod application;
mod circuit;
mod cli;
mod client;
pub mod config;
mod extract;
mod gate;
mod guard;
pub mod listener;
mod mcp;
mod oauth;
mod problem;
mod rest;
mod sessions;
mod web;

pub use application::Application;
use config::{Cli, Command};
use talon_core::Core;

/// Shared state of the HTTP handlers.
#[derive(Clone)]
pub struct AppState {
    pub core: Core,
}

/// Runs one command line; the process exit code.
pub fn run(cli: Cli) -> i32 {
    config::init_logging();
    let result = match cli.command {
        Command::Server(args) => application::run_server(args),
        Command::Mcp(args) => application::run_mcp(args),
        Command::Client(command) => return cli::run(cli.global, command),
        Command::Admin(args) => application::run_admin(args),
    };
    match result {
        Ok(()) => 0,
        Err(msg) => {
            eprintln!("talon: {msg}");
            1
        }
    }
}
