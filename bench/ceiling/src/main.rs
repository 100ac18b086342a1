//! Bare axum endpoint answering a fixed 64-byte JSON body: the ceiling the benchmark compares against.
//!
//! `bench-ceiling <port>` listens on 127.0.0.1:<port> and answers every GET, whatever the path,
//! with a small JSON object shaped like a secret read, containing a fixed 64-byte value. There is
//! no authentication, storage, crypto or audit: it measures what axum, tokio and the loopback
//! network stack cost on this machine, which is the most any axum server can reach here.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

/// 64 bytes, the same size as the value the benchmark stores in Talon and OpenBao.
macro_rules! value {
    () => {
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    };
}

const VALUE: &str = value!();

const BODY: &str = concat!(
    r#"{"path":"bench/key","type":"generic","version":1,"value":""#,
    value!(),
    r#""}"#
);

const _: () = assert!(VALUE.len() == 64);

async fn answer() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], BODY)
}

fn main() -> ExitCode {
    let port = match std::env::args().nth(1).map(|a| a.parse::<u16>()) {
        Some(Ok(port)) => port,
        _ => {
            eprintln!("usage: bench-ceiling <port>");
            return ExitCode::from(2);
        }
    };

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench-ceiling: cannot start the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(serve(port))
}

async fn serve(port: u16) -> ExitCode {
    let app = Router::new()
        .route("/", get(answer))
        .route("/{*path}", get(answer));
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("bench-ceiling: cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("http://{addr}");
    if let Err(e) = axum::serve(listener, app).await {
        eprintln!("bench-ceiling: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
