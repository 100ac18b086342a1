//! The client commands' command line (CLI.md): the clap definitions, apart from the code that
//! runs them, so the server's command line (`crate::config`) can embed them without the two
//! importing each other.

use clap::{Args, Subcommand};

/// Flags every client command accepts.
#[derive(Args, Debug, Clone, Default)]
pub struct GlobalArgs {
    /// Talon server URL (default: ONECLAW_BASE_URL / TALON_URL, then the `api-url` setting).
    #[arg(long, global = true)]
    pub api_url: Option<String>,
    /// Vault for vault-scoped commands (default: ONECLAW_VAULT_ID / TALON_VAULT_ID, then
    /// `default-vault`).
    #[arg(long, global = true)]
    pub vault: Option<String>,
    /// Same as `--output json`.
    #[arg(long, global = true)]
    pub json: bool,
    /// `table`, `json` or `plain`.
    #[arg(long, global = true)]
    pub output: Option<String>,
    /// Request ids and HTTP statuses on stderr.
    #[arg(long, global = true)]
    pub verbose: bool,
    /// Skip confirmations.
    #[arg(long, global = true)]
    pub yes: bool,
    /// A bearer token to use instead of the stored login.
    #[arg(long, global = true, hide_env_values = true)]
    pub token: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum ClientCommand {
    /// Sign in and store the credentials.
    Login(LoginArgs),
    /// Revoke the stored token and delete the stored credentials.
    Logout,
    /// Who the current credentials name.
    Whoami,
    /// CLI settings: api-url, output-format, default-vault.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Vaults.
    #[command(subcommand)]
    Vault(VaultCmd),
    /// Secrets of the selected vault.
    #[command(subcommand)]
    Secret(SecretCmd),
    /// Environment injection: `env run -- CMD`, `env pull`.
    #[command(subcommand)]
    Env(EnvCmd),
    /// Run CMD with the vault's secrets (as `env run`), or with `--broker` behind a local proxy
    /// that sends each secret only to its allowed hosts; exits with CMD's status.
    Run(RunArgs),
    /// Agents.
    #[command(subcommand)]
    Agent(AgentCmd),
    /// Access policies of the selected vault.
    #[command(subcommand)]
    Policy(PolicyCmd),
    /// Requests held for a person's approval: list them, approve, reject or cancel one.
    #[command(subcommand, visible_alias = "approval")]
    Approvals(ApprovalsCmd),
    /// Credentials agents asked for: list them, fulfil one with a value, or decline it.
    #[command(subcommand, visible_alias = "secret-request")]
    SecretRequests(SecretRequestsCmd),
    /// Secret sharing.
    #[command(subcommand)]
    Share(ShareCmd),
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Personal API keys (`1ck_`).
    #[command(subcommand)]
    Apikey(ApikeyCmd),
    /// Organization members.
    #[command(subcommand)]
    Member(MemberCmd),
    /// Organization IP allow/deny rules.
    #[command(subcommand)]
    IpRule(IpRuleCmd),
    /// Two-factor authentication.
    #[command(subcommand)]
    Mfa(MfaCmd),
    /// Print a shell completion script: `talon completions bash > /etc/bash_completion.d/talon`.
    Completions { shell: clap_complete::Shell },
}

#[derive(Args, Debug)]
pub struct LoginArgs {
    /// Log in with email and password (prompted, or `--password-stdin`).
    #[arg(long, num_args = 0..=1, default_missing_value = "")]
    pub email: Option<String>,
    /// Read the password from stdin.
    #[arg(long)]
    pub password_stdin: bool,
    /// Read a `1ck_` personal API key from stdin and store it.
    #[arg(long)]
    pub api_key: bool,
    /// Device flow: only print the verification link, do not open a browser.
    #[arg(long)]
    pub no_browser: bool,
    /// Device flow: the account expected to approve.
    #[arg(long)]
    pub email_hint: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum ConfigCmd {
    List,
    Get { key: String },
    Set { key: String, value: String },
    Unset { key: String },
}

#[derive(Subcommand, Debug)]
pub enum VaultCmd {
    List,
    Create {
        name: String,
        #[arg(long)]
        description: Option<String>,
    },
    Get {
        id: String,
    },
    /// Make a vault (id or unique name) the default vault.
    Link {
        id: String,
    },
    Delete {
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum SecretCmd {
    List {
        #[arg(long)]
        prefix: Option<String>,
    },
    /// Print a secret's value (bare when stdout is not a terminal or with `--output plain`).
    Get {
        path: String,
        #[arg(long)]
        version: Option<i64>,
        /// `value` (default) or `json`.
        #[arg(long)]
        field: Option<String>,
    },
    /// Store a new version; the value comes from stdin or `--file`, never from an argument.
    Set {
        path: String,
        /// Refused: values on the command line land in shell history.
        value: Option<String>,
        #[arg(long = "type")]
        secret_type: Option<String>,
        #[arg(long)]
        metadata: Option<String>,
        #[arg(long)]
        expires_at: Option<String>,
        #[arg(long)]
        max_access_count: Option<i64>,
        #[arg(long)]
        file: Option<std::path::PathBuf>,
    },
    Delete {
        path: String,
    },
    /// Metadata of the latest version, never the value.
    Describe {
        path: String,
    },
    /// Server-side rotation to a fresh random value.
    Rotate {
        path: String,
        #[arg(long)]
        length: Option<i64>,
        #[arg(long)]
        charset: Option<String>,
        /// Read the new value back and print it.
        #[arg(long)]
        print: bool,
    },
    Versions {
        path: String,
    },
    DisableVersion {
        path: String,
        version: i64,
    },
}

#[derive(Subcommand, Debug)]
pub enum EnvCmd {
    /// Run CMD with the vault's secrets added to its environment; exits with CMD's status.
    Run {
        #[arg(long)]
        prefix: Option<String>,
        /// Keep variables already set in the environment.
        #[arg(long)]
        no_override: bool,
        #[command(flatten)]
        wait: ApprovalWaitArgs,
        #[arg(trailing_var_arg = true, required = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Store each `KEY=VALUE` line of FILE as a secret at `<prefix>/<KEY>`, or with `-e` as
    /// the vault's environment variables of that environment.
    Push {
        file: std::path::PathBuf,
        #[arg(long)]
        prefix: Option<String>,
        #[arg(long = "type")]
        secret_type: Option<String>,
        /// Push to the vault's environment variables of this environment.
        #[arg(short = 'e', long = "environment", value_name = "ENV")]
        environment: Option<String>,
        /// With `-e`: the branch whose overrides these are.
        #[arg(long = "branch", value_name = "BRANCH", requires = "environment")]
        git_branch: Option<String>,
    },
    /// Write the vault's secrets as a `.env` (mode 0600), or to stdout without `-o`; with
    /// `-e`, the environment's resolved variables.
    Pull {
        /// File to write (`-o`; the global `--output` is the format).
        #[arg(short = 'o', id = "out_file", value_name = "FILE")]
        out_file: Option<std::path::PathBuf>,
        #[arg(long)]
        prefix: Option<String>,
        /// Pull the resolved environment variables of this environment.
        #[arg(short = 'e', long = "environment", value_name = "ENV")]
        environment: Option<String>,
        /// With `-e`: apply this branch's overrides.
        #[arg(long = "branch", value_name = "BRANCH", requires = "environment")]
        git_branch: Option<String>,
        #[command(flatten)]
        wait: ApprovalWaitArgs,
    },
}

/// How long a command waits when a read is held for a person's approval.
#[derive(Args, Debug, Clone, Default)]
pub struct ApprovalWaitArgs {
    /// When a read needs a person's approval, wait at most this long (`90s`, `10m`, `1h`, or
    /// seconds; `0` fails at once). Default: TALON_APPROVAL_TIMEOUT, else until the approval
    /// expires.
    #[arg(long, value_name = "DURATION")]
    pub approval_timeout: Option<String>,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Without `--broker`: only secrets under this prefix.
    #[arg(long, conflicts_with = "broker")]
    pub prefix: Option<String>,
    /// Without `--broker`: keep variables already set in the environment.
    #[arg(long, conflicts_with = "broker")]
    pub no_override: bool,
    /// Give CMD placeholders instead of values, and run it behind a local HTTPS proxy that
    /// swaps in each value only on requests to that secret's hosts.
    #[arg(long)]
    pub broker: bool,
    /// `ENV=path@host1,host2`: CMD sees a placeholder in ENV; the value of the secret at `path`
    /// is sent only to these hosts.
    #[arg(long = "secret", value_name = "ENV=PATH@HOSTS", requires = "broker")]
    pub secrets: Vec<String>,
    /// Also swap placeholders found in request bodies (headers only by default).
    #[arg(long, requires = "broker")]
    pub inject_body: bool,
    #[command(flatten)]
    pub wait: ApprovalWaitArgs,
    #[arg(trailing_var_arg = true, required = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum AgentCmd {
    List,
    /// Create an agent; prints its `ocv_` key once.
    Create {
        name: String,
        #[arg(long)]
        description: Option<String>,
        #[arg(long, value_delimiter = ',')]
        scopes: Vec<String>,
        #[arg(long, value_delimiter = ',')]
        vault_ids: Vec<String>,
        #[arg(long)]
        token_ttl: Option<i64>,
        #[arg(long)]
        expires_at: Option<String>,
    },
    Get {
        id: String,
    },
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        description: Option<String>,
        #[arg(long, value_delimiter = ',')]
        scopes: Option<Vec<String>>,
        #[arg(long, value_delimiter = ',')]
        vault_ids: Option<Vec<String>>,
        #[arg(long)]
        token_ttl: Option<i64>,
        #[arg(long)]
        active: Option<bool>,
        #[arg(long)]
        expires_at: Option<String>,
    },
    Delete {
        id: String,
    },
    /// Prints a new key once.
    RotateKey {
        id: String,
    },
    /// Exchange ONECLAW_AGENT_API_KEY for a JWT and print it.
    Token,
    /// Ask to join an organization; prints the URL where a human approves.
    Enroll {
        name: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        description: Option<String>,
    },
    Me,
}

#[derive(Subcommand, Debug)]
pub enum PolicyCmd {
    List,
    Create {
        #[arg(long)]
        principal_type: String,
        #[arg(long)]
        principal_id: String,
        #[arg(long)]
        pattern: String,
        #[arg(long, value_delimiter = ',', required = true)]
        permissions: Vec<String>,
        #[arg(long)]
        conditions: Option<String>,
        #[arg(long)]
        expires_at: Option<String>,
        #[arg(long)]
        effect: Option<String>,
    },
    Update {
        id: String,
        #[arg(long, value_delimiter = ',')]
        permissions: Option<Vec<String>>,
        #[arg(long)]
        conditions: Option<String>,
        #[arg(long)]
        expires_at: Option<String>,
    },
    Delete {
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum ApprovalsCmd {
    /// The approvals you may see, pending first.
    List {
        /// `pending`, `approved`, `rejected` or `expired`.
        #[arg(long)]
        status: Option<String>,
    },
    /// One approval with its votes.
    Show { id: String },
    /// Vote to approve. From risk tier 2 this is confirmed with your password or a TOTP code:
    /// asked without echo on a terminal, or from `--confirm-stdin`, or TALON_CONFIRM.
    Approve(DecideArgs),
    /// Reject (one rejection ends the approval); confirmed as `approve` is.
    Reject(DecideArgs),
    /// Withdraw a pending approval (its requester or one of its approvers).
    Cancel { id: String },
}

#[derive(Args, Debug)]
pub struct DecideArgs {
    pub id: String,
    /// Why, shown to the requester and kept in the audit log.
    #[arg(long)]
    pub reason: Option<String>,
    /// Read the password or TOTP code that confirms a high-risk decision from stdin.
    #[arg(long)]
    pub confirm_stdin: bool,
}

#[derive(Subcommand, Debug)]
pub enum SecretRequestsCmd {
    /// The requests you may see, pending first.
    List {
        /// `pending`, `fulfilled`, `declined` or `expired`.
        #[arg(long)]
        status: Option<String>,
    },
    /// One request (never a value: a request holds none).
    Show { id: String },
    /// Answer a request: store the value (from stdin or `--file`, or asked without echo on a
    /// terminal; never from an argument) in the selected vault (`--vault`, an id or a unique
    /// name) at `--path` (default: the path the agent suggested). The agent learns the vault
    /// and path, not the value.
    #[command(visible_alias = "fulfill")]
    Fulfil {
        id: String,
        /// Refused: values on the command line land in shell history.
        value: Option<String>,
        /// Where to store the value (default: the request's suggested path).
        #[arg(long)]
        path: Option<String>,
        /// What the agent may then do with it: `use` (through bindings or the broker),
        /// `read`, or `none` (default).
        #[arg(long, value_parser = ["use", "read", "none"])]
        grant: Option<String>,
        /// Read the value from this file instead of stdin.
        #[arg(long)]
        file: Option<std::path::PathBuf>,
    },
    /// Decline a request.
    Decline {
        id: String,
        /// Why, shown to the agent.
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum ShareCmd {
    /// Share a secret (by id or `--path`); prints the share URL.
    Create {
        secret_id: Option<String>,
        #[arg(long)]
        path: Option<String>,
        #[arg(long = "type")]
        recipient_type: String,
        #[arg(long)]
        recipient: Option<String>,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        expires_at: Option<String>,
        /// Like `24h`, `30m`, `7d`.
        #[arg(long)]
        expires_in: Option<String>,
        #[arg(long)]
        max_access_count: Option<i64>,
    },
    List {
        #[arg(long)]
        inbound: bool,
    },
    /// Read a shared secret.
    Open {
        id: String,
        #[arg(long)]
        passphrase_stdin: bool,
    },
    Accept {
        id: String,
    },
    Decline {
        id: String,
    },
    Revoke {
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum AuditCmd {
    List {
        #[arg(long)]
        action: Option<String>,
        #[arg(long)]
        actor_type: Option<String>,
        #[arg(long)]
        actor_id: Option<String>,
        #[arg(long)]
        resource_id: Option<String>,
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        to: Option<String>,
        #[arg(long)]
        limit: Option<String>,
        #[arg(long)]
        offset: Option<String>,
    },
    /// Exit 0 when the whole hash chain was checked and is intact; 7 when it is broken, 8 when
    /// only part of it was checked (`--from`, `--to` or `--limit` narrow the range).
    Verify {
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        to: Option<String>,
        /// Check at most this many events (1 to 10000); the whole chain when absent.
        #[arg(long)]
        limit: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum ApikeyCmd {
    List,
    /// Create a `1ck_` key; printed once.
    Create {
        name: String,
        #[arg(long, value_delimiter = ',')]
        scopes: Vec<String>,
        #[arg(long)]
        expires_at: Option<String>,
    },
    Revoke {
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum MemberCmd {
    List,
    Invite {
        email: String,
        #[arg(long)]
        role: Option<String>,
    },
    Role {
        user_id: String,
        role: String,
    },
    Remove {
        user_id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum IpRuleCmd {
    List,
    Add {
        cidr: String,
        #[arg(long = "type")]
        rule_type: String,
        #[arg(long)]
        label: Option<String>,
        #[arg(long)]
        applies_to: Option<String>,
    },
    Delete {
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum MfaCmd {
    Status,
}
