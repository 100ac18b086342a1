//! The CLI's files: `config.json` (settings) and `credentials.json` (tokens) under
//! `$XDG_CONFIG_HOME/talon` (default `~/.config/talon`); directory 0700, files 0600, written
//! atomically (temp file + rename).

use serde_json::{Map, Value};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Seconds since the Unix epoch.
pub fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn read(path: &Path) -> Map<String, Value> {
    fs::read_to_string(path)
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default()
}

fn write(path: &Path, v: &Map<String, Value>) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    let tmp = path.with_extension("json.tmp");
    let _ = fs::remove_file(&tmp);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(
        serde_json::to_string_pretty(v)
            .unwrap_or_default()
            .as_bytes(),
    )?;
    f.sync_all()?;
    fs::rename(&tmp, path)
}

/// Settings and credentials as loaded at start.
pub struct Stored {
    dir: PathBuf,
    settings: Map<String, Value>,
    credentials: Map<String, Value>,
}

impl Stored {
    /// Reads both files from `dir` (the CLI's configuration directory); missing files are empty.
    pub fn load(dir: PathBuf) -> Stored {
        Stored {
            settings: read(&dir.join("config.json")),
            credentials: read(&dir.join("credentials.json")),
            dir,
        }
    }

    pub fn setting(&self, key: &str) -> Option<String> {
        self.settings
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
    }

    pub fn set_setting(&mut self, key: &str, value: Option<String>) {
        match value {
            Some(v) => self.settings.insert(key.to_owned(), Value::String(v)),
            None => self.settings.remove(key),
        };
    }

    pub fn save_settings(&self) -> std::io::Result<()> {
        write(&self.dir.join("config.json"), &self.settings)
    }

    pub fn credential(&self, key: &str) -> Option<String> {
        self.credentials
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    }

    /// Replaces the stored credentials.
    pub fn save_credentials(&mut self, creds: Value) -> std::io::Result<()> {
        self.credentials = creds.as_object().cloned().unwrap_or_default();
        write(&self.dir.join("credentials.json"), &self.credentials)
    }

    pub fn clear_credentials(&mut self) -> std::io::Result<()> {
        self.credentials.clear();
        match fs::remove_file(self.dir.join("credentials.json")) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}
