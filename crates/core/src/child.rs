//! Programs Berth starts (terminals, qemu, VBoxManage, PowerShell…) run in the user's own
//! environment. The desktop app on Linux preloads WebKit's libraries into WebKit's helper
//! processes through `LD_PRELOAD` (it halves their dynamic-linking time, see src-tauri's
//! main.rs) and keeps the user's own value in [`USER_LD_PRELOAD`]; [`command`] puts it back.

use std::ffi::OsStr;
use std::process::Command;

/// The `LD_PRELOAD` the user had before the app added WebKit's libraries ("" = none).
pub const USER_LD_PRELOAD: &str = "BERTH_USER_LD_PRELOAD";

/// A `Command` for `program` with the user's environment (see the module comment).
pub fn command(program: impl AsRef<OsStr>) -> Command {
    let mut c = Command::new(program);
    restore_user_env(&mut c);
    c
}

/// Gives `c` the `LD_PRELOAD` the user had, if the app changed it.
pub fn restore_user_env(c: &mut Command) {
    restore_with(c, std::env::var_os(USER_LD_PRELOAD).as_deref());
}

fn restore_with(c: &mut Command, user: Option<&OsStr>) {
    if let Some(user) = user {
        c.env_remove(USER_LD_PRELOAD);
        if user.is_empty() {
            c.env_remove("LD_PRELOAD");
        } else {
            c.env("LD_PRELOAD", user);
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn env_of(c: &Command, key: &str) -> Option<Option<String>> {
        c.get_envs()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.map(|v| v.to_string_lossy().into_owned()))
    }

    #[test]
    fn the_users_preload_comes_back() {
        // No env mutation here (tests run in parallel): the logic is checked on a Command whose
        // parent environment is simulated through restore_with.
        let mut c = Command::new("true");
        restore_with(&mut c, Some("".as_ref()));
        assert_eq!(env_of(&c, "LD_PRELOAD"), Some(None), "removed");
        assert_eq!(env_of(&c, USER_LD_PRELOAD), Some(None));
        let mut c = Command::new("true");
        restore_with(&mut c, Some("/opt/mine.so".as_ref()));
        assert_eq!(env_of(&c, "LD_PRELOAD"), Some(Some("/opt/mine.so".into())));
        let mut c = Command::new("true");
        restore_with(&mut c, None);
        assert_eq!(env_of(&c, "LD_PRELOAD"), None, "untouched outside the app");
    }
}
