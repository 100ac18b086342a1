//! `talon config`: the CLI's own settings.

use super::*;

const CONFIG_KEYS: [&str; 3] = ["api-url", "output-format", "default-vault"];

pub(super) fn run(s: &mut Session, c: ConfigCmd) -> Res {
    let check = |k: &str| {
        if CONFIG_KEYS.contains(&k) {
            Ok(())
        } else {
            Err(Exit::usage(format!(
                "unknown key '{k}' (api-url, output-format, default-vault)"
            )))
        }
    };
    let save = |st: &Stored| {
        st.save_settings()
            .map_err(|e| Exit(6, format!("cannot write the config: {e}")))
    };
    match c {
        ConfigCmd::List => {
            for k in CONFIG_KEYS {
                println!("{k} = {}", s.stored.setting(k).unwrap_or_default());
            }
        }
        ConfigCmd::Get { key } => {
            check(&key)?;
            println!("{}", s.stored.setting(&key).unwrap_or_default());
        }
        ConfigCmd::Set { key, value } => {
            check(&key)?;
            s.stored.set_setting(&key, Some(value));
            save(&s.stored)?;
        }
        ConfigCmd::Unset { key } => {
            check(&key)?;
            s.stored.set_setting(&key, None);
            save(&s.stored)?;
        }
    }
    Ok(())
}
