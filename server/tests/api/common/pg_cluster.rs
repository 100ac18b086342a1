//! A throwaway PostgreSQL cluster of one test's own, on a free port, that the test may stop
//! and start again (an outage) without touching the shared test cluster. Stopped on drop.

use super::pg_bin;
use std::os::unix::fs::MetadataExt;
use std::process::Command;
use tempfile::TempDir;

pub struct PgCluster {
    dir: TempDir,
    port: u16,
    /// Whether the server binaries run as `postgres` (initdb refuses to run as root).
    as_postgres: bool,
    running: bool,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

impl PgCluster {
    /// initdb into a temp dir and start the cluster (waits until it accepts connections).
    pub fn start() -> PgCluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let as_postgres = std::fs::metadata("/proc/self")
            .map(|m| m.uid())
            .unwrap_or(1)
            == 0;
        if as_postgres {
            run(Command::new("chown").arg("postgres:").arg(dir.path()));
        }
        let mut cluster = PgCluster {
            dir,
            port: free_port(),
            as_postgres,
            running: false,
        };
        let data = cluster.data();
        run(cluster.pg("initdb").arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
        ]));
        cluster.start_again();
        cluster
    }

    /// The URL of the cluster's `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the stopped cluster again, on the same port and data. Commits are synchronous
    /// (only fsync is off), so what was committed before an immediate stop is still there.
    pub fn start_again(&mut self) {
        let data = self.data();
        let log = self.dir.path().join("log");
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        run(self
            .pg("pg_ctl")
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(&log)
            .args(["-w", "-t", "60", "-o", &opts, "start"]));
        self.running = true;
    }

    /// Stops the cluster at once (`-m immediate`): connections are cut, nothing is flushed.
    pub fn stop(&mut self) {
        if !self.running {
            return;
        }
        let data = self.data();
        run(self
            .pg("pg_ctl")
            .arg("-D")
            .arg(&data)
            .args(["-m", "immediate", "-t", "10", "stop"]));
        self.running = false;
    }

    fn data(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    fn pg(&self, bin: &str) -> Command {
        let bin = pg_bin(bin);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(bin);
            c
        } else {
            Command::new(bin)
        }
    }
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("run a PostgreSQL command");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if self.running {
            let data = self.data();
            let _ = self
                .pg("pg_ctl")
                .arg("-D")
                .arg(&data)
                .args(["-m", "immediate", "-t", "10", "stop"])
                .output();
        }
    }
}
